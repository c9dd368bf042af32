"""Index configuration is read as pip reads it, end to end.

pip's config file (``PIP_CONFIG_FILE``, written by the test, which also keeps this
machine's own pip configuration out), ``PIP_INDEX_URL``, ``--extra-index-url`` merging
two servers, ``--no-index --find-links``, a ``file://`` index, and credentials (in the
URL and from ``.netrc``) that are used and never shown.
"""

from __future__ import annotations

import hashlib
import html
import json
import shutil
from pathlib import Path

import pytest

from integration.test_scan_helpers import (
    describe,
    install_pins,
    latest_by_name,
    pipfresh_env,
    publish,
    run_json,
    run_pipfresh,
)
from support.index_server import IndexServer
from support.venvs import Venv, VenvFactory
from support.wheels import WheelFactory

USER = "alice"
PASSWORD = "Pa55-s3cr3t-xyzzy"
WRONG = "Wr0ng-n0t-it-qux"
NETRC_PASSWORD = "n3trc-hunter2-plugh"


@pytest.fixture
def venv(index_server: IndexServer, wheel_factory: WheelFactory, make_venv: VenvFactory) -> Venv:
    """A venv with foo 1.0 while ``index_server`` offers foo 1.0 and 2.0."""
    publish(index_server, wheel_factory, "foo", "1.0", "2.0")
    made = make_venv()
    install_pins(made, index_server.url, ["foo==1.0"])
    index_server.reset_stats()
    return made


def write_pip_conf(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# where the index comes from
# --------------------------------------------------------------------------------------


def test_index_url_from_the_pip_config_file(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    conf = write_pip_conf(tmp_path / "pip.conf", f"[global]\nindex-url = {index_server.url}\n")
    document = run_json(
        "--python", venv.path, env=pipfresh_env(tmp_path, pip_config=conf), cwd=tmp_path
    )
    assert latest_by_name(document) == {"foo": "2.0"}
    assert index_server.count("foo") == 1


def test_index_url_from_the_list_section_of_the_pip_config_file(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    # pip reads [list] for `pip list --outdated`, and it beats [global].
    conf = write_pip_conf(
        tmp_path / "pip.conf",
        "[global]\nindex-url = http://127.0.0.1:9/nowhere\n"
        f"[list]\nindex-url = {index_server.url}\n",
    )
    document = run_json(
        "--python", venv.path, env=pipfresh_env(tmp_path, pip_config=conf), cwd=tmp_path
    )
    assert latest_by_name(document) == {"foo": "2.0"}


def test_pip_index_url_variable(venv: Venv, index_server: IndexServer, tmp_path: Path) -> None:
    env = pipfresh_env(tmp_path, extra={"PIP_INDEX_URL": index_server.url})
    document = run_json("--python", venv.path, env=env, cwd=tmp_path)
    assert latest_by_name(document) == {"foo": "2.0"}
    assert index_server.count("foo") == 1


def test_extra_index_url_merges_two_servers(
    venv: Venv, index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    with IndexServer() as second:
        publish(second, wheel_factory, "foo", "3.0")
        document = run_json(
            "--python",
            venv.path,
            "--index-url",
            index_server.url,
            "--extra-index-url",
            second.url,
            env=pipfresh_env(tmp_path),
            cwd=tmp_path,
        )
        assert second.count("foo") == 1
    assert index_server.count("foo") == 1
    assert latest_by_name(document) == {"foo": "3.0"}
    assert document["packages"][0]["bump"] == "major"


def test_no_index_with_find_links_folder(
    venv: Venv, index_server: IndexServer, wheel_factory: WheelFactory, tmp_path: Path
) -> None:
    links = tmp_path / "wheels"
    links.mkdir()
    for version in ("1.0", "2.5"):
        shutil.copy(wheel_factory("foo", version), links)
    shutil.copy(wheel_factory("unrelated", "9.0"), links)
    document = run_json(
        "--python",
        venv.path,
        "--no-index",
        "--find-links",
        links,
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert latest_by_name(document) == {"foo": "2.5"}
    assert index_server.total_requests == 0


def test_file_index(venv: Venv, wheel_factory: WheelFactory, tmp_path: Path) -> None:
    """A PEP 503 folder tree: simple/index.html, simple/foo/index.html, relative links."""
    root = tmp_path / "repo"
    (root / "files").mkdir(parents=True)
    (root / "simple" / "foo").mkdir(parents=True)
    anchors = []
    for version in ("1.0", "1.2", "4.0"):
        wheel = Path(shutil.copy(wheel_factory("foo", version), root / "files"))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        rp = ' data-requires-python="&gt;=3.99"' if version == "4.0" else ""
        href = html.escape(f"../../files/{wheel.name}#sha256={digest}")
        anchors.append(f'<a href="{href}"{rp}>{wheel.name}</a><br/>')
    (root / "simple" / "index.html").write_text(
        '<!DOCTYPE html><html><body><a href="foo/">foo</a></body></html>\n'
    )
    (root / "simple" / "foo" / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n"
    )
    document = run_json(
        "--python",
        venv.path,
        "--index-url",
        (root / "simple").as_uri(),
        env=pipfresh_env(tmp_path),
        cwd=tmp_path,
    )
    assert latest_by_name(document) == {"foo": "1.2"}


# --------------------------------------------------------------------------------------
# credentials
# --------------------------------------------------------------------------------------


def assert_no_secret(*texts: str) -> None:
    for secret in (PASSWORD, WRONG, NETRC_PASSWORD):
        for text in texts:
            assert secret not in text, text


def test_credentials_in_the_index_url_are_used_and_never_shown(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.require_auth(USER, PASSWORD)
    url = index_server.url_with_auth(USER, PASSWORD)
    env = pipfresh_env(tmp_path)
    for fmt in ("json", "table", "jsonl"):
        result = run_pipfresh(
            "--python", venv.path, "-i", url, "--format", fmt, "-v", env=env, cwd=tmp_path
        )
        assert result.returncode == 0, describe(result)
        assert_no_secret(result.stdout, result.stderr)
        assert "****" in result.stderr  # -v names the index, redacted
        if fmt == "json":
            assert latest_by_name(json.loads(result.stdout)) == {"foo": "2.0"}
    assert all(r.status == 200 for r in index_server.requests)


def test_wrong_password_gives_a_401_line_with_a_hint_and_no_password(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    index_server.require_auth(USER, PASSWORD)
    url = index_server.url_with_auth(USER, WRONG)
    env = pipfresh_env(tmp_path)

    table = run_pipfresh("--python", venv.path, "-i", url, env=env, cwd=tmp_path)
    assert table.returncode == 3, describe(table)
    assert_no_secret(table.stdout, table.stderr)
    errors = [line for line in table.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, describe(table)
    assert errors[0].startswith("error: foo: HTTP 401 from "), errors
    assert "credentials" in errors[0]  # the hint
    assert f"{USER}:****@" in errors[0]

    document = run_json("--python", venv.path, "-i", url, env=env, cwd=tmp_path, expect=3)
    assert_no_secret(json.dumps(document))
    [error] = document["errors"]
    assert error["name"] == "foo"
    assert "HTTP 401" in error["reason"]

    freeze = run_pipfresh(
        "--python", venv.path, "-i", url, "--format", "freeze", "-v", env=env, cwd=tmp_path
    )
    assert freeze.returncode == 3, describe(freeze)
    assert "HTTP 401" in freeze.stderr
    assert_no_secret(freeze.stdout, freeze.stderr)


def test_netrc_credentials(venv: Venv, index_server: IndexServer, tmp_path: Path) -> None:
    index_server.require_auth(USER, NETRC_PASSWORD)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {USER}\npassword {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)
    result = run_pipfresh(
        "--python",
        venv.path,
        "-i",
        index_server.url,
        "--format",
        "json",
        "-v",
        env=pipfresh_env(tmp_path, netrc=netrc),
        cwd=tmp_path,
    )
    assert result.returncode == 0, describe(result)
    assert latest_by_name(json.loads(result.stdout)) == {"foo": "2.0"}
    assert_no_secret(result.stdout, result.stderr)
    assert index_server.count("foo") == 1
    assert all(r.authorization for r in index_server.requests)


def test_missing_netrc_file_is_not_reported_per_request(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """A $NETRC naming no file means "no credentials", silently (aiohttp's trust_env
    used to log 'Could not read .netrc file' once per request)."""
    result = run_pipfresh(
        "--python",
        venv.path,
        "-i",
        index_server.url,
        env=pipfresh_env(tmp_path, netrc=tmp_path / "missing.netrc"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, describe(result)
    assert result.stderr == ""


def test_pip_config_neutralises_this_machines_config(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """With only the test's config, exactly one index is used: no extra indexes or
    find-links from the machine's own pip setup (which -v would list)."""
    conf = write_pip_conf(tmp_path / "pip.conf", f"[global]\nindex-url = {index_server.url}\n")
    result = run_pipfresh(
        "--python",
        venv.path,
        "-v",
        env=pipfresh_env(tmp_path, pip_config=conf),
        cwd=tmp_path,
    )
    assert result.returncode == 0, describe(result)
    assert f"pipfresh: indexes: {index_server.url}\n" in result.stderr
    assert "find-links" not in result.stderr
