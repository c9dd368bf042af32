"""``pipfresh update --interactive`` on a real terminal: the picker driven through a pty.

The real entry point (``python -m pipfresh``) runs with stdin and stderr on the
secondary side of a pty; the test types keys on the primary side once the text it
waits for is on the screen (reads with a deadline, no sleeps), then checks what was
updated with a freeze of the venv.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.test_scan_helpers import PIPFRESH, RUN_TIMEOUT
from integration.test_update import Scene, outdated_pair
from support.venvs import freeze

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs a pty")


@dataclass
class Terminal:
    primary: int
    secondary: int
    proc: subprocess.Popen[bytes]
    stdout: Path
    screen: bytes = b""

    def wait_for(self, *markers: str) -> str:
        """Read the screen until every marker is on it (bounded); the text so far."""
        deadline = time.monotonic() + RUN_TIMEOUT
        wanted = [m.encode() for m in markers]
        while not all(m in self.screen for m in wanted):
            left = deadline - time.monotonic()
            assert left > 0, f"never showed {markers!r}:\n{self.screen.decode(errors='replace')}"
            ready, _, _ = select.select([self.primary], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.primary, 65536)
                except OSError:  # EIO: the child closed its side
                    chunk = b""
                if not chunk:
                    shown = self.screen.decode(errors="replace")
                    raise AssertionError(f"ended before {markers!r}:\n{shown}")
                self.screen += chunk
        return self.screen.decode(errors="replace")

    def type(self, keys: bytes) -> None:
        self.screen = b""  # what is waited for next comes after these keys
        os.write(self.primary, keys)

    def finish(self) -> tuple[int, str]:
        """Wait for the exit, draining the screen so the child never blocks on it."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "pipfresh did not exit"
            ready, _, _ = select.select([self.primary], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.primary, 65536)
                except OSError:
                    break
        return self.proc.wait(timeout=RUN_TIMEOUT), self.stdout.read_text()


@contextmanager
def terminal(
    scene: Scene, *args: str, term: str = "xterm", command: tuple[str, ...] = ()
) -> Iterator[Terminal]:
    primary, secondary = os.openpty()
    # A known size: the picker fits its lines to it.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    stdout = scene.tmp_path / "stdout.txt"
    words = list(command or ("update", "--interactive", "--installer", "uv"))
    command = [*PIPFRESH, *words]
    command += ["--python", str(scene.venv.python), "--index-url", scene.server.url, *args]
    with stdout.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env={**scene.env, "TERM": term},
            cwd=scene.tmp_path,
            stdin=secondary,
            stdout=out,
            stderr=secondary,
        )
    screen = Terminal(primary, secondary, proc, stdout)
    try:
        yield screen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(secondary)
        os.close(primary)


def four_kinds(scene: Scene) -> None:
    """aaa 1.0 -> 2.0 (major), bbb 1.0 -> 1.5 (minor), eee 1.0 -> 1.0.1 (patch), and
    ccc 1.0 held back at 1.0 by ddd 1.0 (which requires ccc<2) although 2.0 exists."""
    outdated_pair(scene)
    scene.publish("eee", "1.0", "1.0.1")
    scene.publish("ccc", "1.0", "2.0")
    scene.publish("ddd", "1.0", requires=("ccc<2",))
    scene.pin("eee==1.0", "ccc==1.0", "ddd==1.0")


PICKER = "Upgrades to make ("


def test_picker_groups_toggles_and_updates_only_what_was_chosen(scene: Scene) -> None:
    four_kinds(scene)
    with terminal(scene) as tty:
        screen = tty.wait_for(PICKER, "Not updated:", "held back by ddd 1.0 requires ccc<2")
        assert "(3 of 3 chosen)" in screen
        for heading in ("Major:", "Minor:", "Patch:"):
            assert heading in screen
        assert " > [x] aaa  1.0 -> 2.0" in screen
        tty.type(b"\x1b[B")  # down arrow: onto bbb, under Minor
        tty.wait_for(" > [x] bbb")
        tty.type(b" ")
        tty.wait_for(" > [ ] bbb", "(2 of 3 chosen)")
        tty.type(b"\r")
        tty.wait_for("Proceed? [y/N]")
        tty.type(b"y\n")  # the picker gave the terminal back: a line is read again
        code, stdout = tty.finish()
        assert code == 0, stdout + tty.screen.decode(errors="replace")
        mode = termios.tcgetattr(tty.secondary)
    assert mode[3] & termios.ICANON, "terminal left raw"
    assert mode[3] & termios.ECHO, "terminal left without echo"
    assert "aaa  1.0 -> 2.0  updated" in stdout
    assert freeze(scene.venv) == {
        "aaa": "2.0",
        "bbb": "1.0",
        "ccc": "1.0",
        "ddd": "1.0",
        "eee": "1.0.1",
    }


def test_left_picks_a_smaller_step_per_package(scene: Scene) -> None:
    """aaa 1.0 may stop at 1.0.2 (patch) or 1.3 (minor) instead of 2.0; bbb, which
    moves on its own, keeps the plan's version."""
    scene.publish("aaa", "1.0", "1.0.2", "1.3", "2.0")
    scene.publish("bbb", "1.0", "1.5")
    scene.pin("aaa==1.0", "bbb==1.0")
    with terminal(scene) as tty:
        tty.wait_for(PICKER, " > [x] aaa  1.0 -> 2.0    < 1.0.2 patch  1.3 minor  [2.0 major] >")
        tty.type(b"\x1b[D")  # left arrow: one step smaller
        tty.wait_for(" > [x] aaa  1.0 -> 1.3    < 1.0.2 patch  [1.3 minor]  2.0 major >")
        tty.type(b"h")
        tty.wait_for("[1.0.2 patch]")
        tty.type(b"\r")
        screen = tty.wait_for("Proceed? [y/N]")
        # The plan shown for confirmation is the one re-planned with aaa capped.
        assert "aaa  1.0 -> 1.0.2" in screen
        tty.type(b"y\n")
        code, stdout = tty.finish()
    assert code == 0, stdout + tty.screen.decode(errors="replace")
    assert freeze(scene.venv) == {"aaa": "1.0.2", "bbb": "1.5"}


@pytest.mark.parametrize(("keys", "code"), [(b"q", 0), (b"\x1b", 0), (b"\x03", 130)])
def test_cancel_changes_nothing_and_restores_the_terminal(
    scene: Scene, keys: bytes, code: int
) -> None:
    outdated_pair(scene)
    before = freeze(scene.venv)
    with terminal(scene) as tty:
        tty.wait_for(PICKER)
        tty.type(b"n" + keys)  # a change of mind first, then cancel
        returned, stdout = tty.finish()
        mode = termios.tcgetattr(tty.secondary)
    screen = tty.screen.decode(errors="replace")
    assert returned == code, stdout + screen
    assert mode[3] & termios.ICANON, "terminal left raw"
    assert mode[3] & termios.ISIG, "terminal left without signals"
    assert "\x1b[?25h" in screen  # the cursor shown again
    if code == 0:
        assert "Nothing to update." in stdout
    else:
        assert "pipfresh: interrupted" in screen
    assert "Proceed?" not in screen
    assert freeze(scene.venv) == before


def test_dumb_terminal_gets_the_numbered_prompt(scene: Scene) -> None:
    outdated_pair(scene)
    with terminal(scene, term="dumb") as tty:
        screen = tty.wait_for("Packages to update")
        assert "  1  aaa 1.0 -> 2.0" in screen
        assert PICKER not in screen
        tty.type(b"2\n")
        tty.wait_for("Proceed? [y/N]")
        tty.type(b"y\n")
        code, _ = tty.finish()
    assert code == 0
    assert freeze(scene.venv) == {"aaa": "1.0", "bbb": "1.5"}


def test_without_a_terminal_says_it_needs_one(scene: Scene) -> None:
    outdated_pair(scene)
    result = scene.update("--interactive")  # stdin is not a terminal here
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pipfresh: error: pipfresh update --interactive needs a terminal (stdin is not one); "
        "pass -y to update everything, or name the packages to update"
    )


def test_bump_interactive_writes_only_the_pins_picked(scene: Scene) -> None:
    scene.publish("aaa", "1.0", "2.0")
    scene.publish("bbb", "1.0", "1.5")
    reqs = scene.tmp_path / "requirements.txt"
    reqs.write_text("aaa==1.0  # the first\nbbb>=1.0\n")
    with terminal(scene, command=("bump", "--interactive", str(reqs))) as tty:
        screen = tty.wait_for("Pins to raise (2 of 2 chosen)", " > [x] aaa  ==1.0")
        assert "Major:" in screen
        assert "Minor:" in screen
        tty.type(b"j ")  # onto bbb, untick it
        tty.wait_for("(1 of 2 chosen)")
        tty.type(b"\r")
        code, stdout = tty.finish()
    assert code == 0, stdout + tty.screen.decode(errors="replace")
    assert reqs.read_text() == "aaa==2.0  # the first\nbbb>=1.0\n"
    assert "wrote 1 file" in stdout


def test_bump_interactive_cancelled_writes_nothing(scene: Scene) -> None:
    scene.publish("aaa", "1.0", "2.0")
    reqs = scene.tmp_path / "requirements.txt"
    reqs.write_text("aaa==1.0\n")
    with terminal(scene, command=("bump", "--interactive", str(reqs))) as tty:
        tty.wait_for("Pins to raise (1 of 1 chosen)")
        tty.type(b"q")
        code, stdout = tty.finish()
    assert code == 0, stdout + tty.screen.decode(errors="replace")
    assert reqs.read_text() == "aaa==1.0\n"
    assert "wrote" not in stdout
