"""Several real processes hammering one cache folder never see, or leave, a broken entry.

Each worker stores, refreshes, looks up and records statistics for the same few
projects as fast as it can, for a fixed number of rounds (no sleeps: the overlap
comes from running at once). Every page a worker writes is one of a few known
variants, so a reader can tell a complete entry from a mix of two.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from pipfresh.cache import Cache

WORKERS = 4
ROUNDS = 300
PROJECTS = ("alpha", "beta")
INDEX = "https://pypi.example/simple"

# Run in each worker. Variant n of a project has n releases of 30 wheels each, and
# its ETag names n: a reader checks that header and files agree and are complete.
WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from pipfresh.cache import Cache, CacheCorrupt
    from pipfresh.models import IndexFile, ProjectPage

    root, worker, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    projects = sys.argv[4].split(",")
    index = sys.argv[5]

    def variant(project, n):
        versions = tuple(f"{i}.0" for i in range(1, n + 1))
        files = tuple(
            IndexFile.build(f"{project}-{v}-cp3{k}-none-any.whl", f"https://f.example/{project}/{v}/{k}",
                      requires_python=">=3.8", hashes={"sha256": f"{n:064x}"})
            for v in versions for k in range(30)
        )
        return ProjectPage(project, files, versions)

    pages = {(p, n): variant(p, n) for p in projects for n in (1, 2, 5, 20)}
    seen = {"hit": 0, "miss": 0, "lost": 0, "bad": [], "corrupt": 0}
    stored = set()
    cache = Cache(root, max_age=600)
    for r in range(rounds):
        project = projects[(r // 4 + worker) % len(projects)]
        n = (1, 2, 5, 20)[(r * 7 + worker) % 4]
        action = (r + worker) % 4
        if action == 0:
            cache.store(index, project, pages[project, n], fetched_at=1000.0 + r, etag=f"v{n}")
            stored.add(project)
        elif action == 1:
            cache.refresh(index, project, now=2000.0 + r)
        elif action == 2:
            cache.record_stats({project: (n * 1000, n / 10), f"w{worker}": (1, 1.0)})
        entry = cache.lookup(index, project, now=3000.0)
        if entry is None:
            # Entries are only ever replaced whole, never removed: once this worker
            # has stored a project, a miss means a reader saw a half-written file.
            seen["lost" if project in stored else "miss"] += 1
            continue
        try:
            page = entry.page()
        except CacheCorrupt:
            seen["corrupt"] += 1
            continue
        m = int((entry.etag or "v0")[1:])
        whole = (project, m) in pages and page == pages[project, m]
        if not whole or entry.releases() != page.versions:
            seen["bad"].append([project, entry.etag, len(page.files)])
        else:
            seen["hit"] += 1
    print(json.dumps(seen))
    """
)


def test_processes_sharing_a_cache_never_corrupt_it(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(root),
                str(worker),
                str(ROUNDS),
                ",".join(PROJECTS),
                INDEX,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))

    for seen in results:
        assert seen["bad"] == []
        assert seen["corrupt"] == 0
        assert seen["lost"] == 0
    assert sum(seen["hit"] for seen in results) > ROUNDS  # the test did overlap real work

    cache = Cache(root)
    for project in PROJECTS:
        entry = cache.lookup(INDEX, project, now=0.0)
        assert entry is not None
        page = entry.page()
        n = int((entry.etag or "")[1:])
        assert len(page.files) == 30 * n
        assert page.versions == tuple(f"{i}.0" for i in range(1, n + 1))
    assert cache.info().entries == len(PROJECTS)
    # no temporary files left behind, and the statistics decode
    assert not list(root.rglob("*.tmp"))
    scores = cache.priorities([*PROJECTS, *(f"w{w}" for w in range(WORKERS))])
    assert all(score > 0 for score in scores.values())
