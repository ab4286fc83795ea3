"""``make test``'s recipe: the suite's processes keep their bytecode even where the environment
says not to write it (``PYTHONDONTWRITEBYTECODE``), in the tree's gitignored ``__pycache__``, and
with no ``PYTHONPYCACHEPREFIX`` (which would hide the bytecode pip wrote for the installed
packages), and lets an idle xdist worker take tests queued on the other (``--dist worksteal``)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import REPO


def _pytest_line() -> list[str]:
    out = subprocess.run(["make", "-n", "-C", str(REPO), "test"], capture_output=True, text=True,
                         check=True).stdout.replace("\\\n", " ")
    return shlex.split(next(line for line in out.splitlines() if "-m pytest" in line))


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_test_writes_bytecode_whatever_the_environment_says(tmp_path):
    words = _pytest_line()
    sets = dict(w.split("=", 1) for w in words[:words.index(next(w for w in words if "=" not in w))])
    assert sets["PYTHONDONTWRITEBYTECODE"] == ""
    assert "PYTHONPYCACHEPREFIX" not in sets
    # what a process started with those settings does, from an environment that forbids writing
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", **sets})
    (tmp_path / "mod.py").write_text("X = 1\n")
    probe = "import sys, mod; print(sys.dont_write_bytecode)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"
    assert list((tmp_path / "__pycache__").glob("mod.*.pyc"))


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_test_lets_an_idle_worker_take_queued_tests():
    """xdist's default ``load`` scheduler leaves tests queued on a busy worker while the other
    idles at the end of the run (180 s in a whole run at stop 48): ``worksteal`` rebalances."""
    words = _pytest_line()
    assert words[words.index("-n") + 1] == "2"
    assert words[words.index("--dist") + 1] == "worksteal"
