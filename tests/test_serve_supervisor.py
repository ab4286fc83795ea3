"""``shelfrank serve``'s supervisor writes the control file and hands over the settings without
importing the engine: its workers are spawned interpreters that import the app themselves, so
an engine imported by the supervisor (2-3 s of CPU per start) served no one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SERVE_WITHOUT_UVICORN = """
import json, sys
import uvicorn
from typer.testing import CliRunner
from shelfrank.cli import app
calls = []
uvicorn.run = lambda target, **kw: calls.append((target, kw["workers"]))
bundle, events = sys.argv[1], sys.argv[2]
result = CliRunner().invoke(app, ["--set", f"serving.events_dir={events}", "serve", "--bundle", bundle,
                                  "--workers", "2", "--port", "1"])
heavy = sorted(m for m in ("serving.app", "serving.state", "ranking.engine", "sklearn", "faiss", "pandas")
               if m in sys.modules)
print(json.dumps({"exit": result.exit_code, "output": result.output, "calls": calls, "heavy": heavy}))
"""


def test_the_supervisor_records_the_bundle_for_its_workers_without_importing_the_engine(tmp_path):
    from serving.main import SETTINGS_ENV
    from serving.state import CONTROL_FILE

    bundle, events = tmp_path / "models" / "v1", tmp_path / "events"
    bundle.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_UVICORN, str(bundle), str(events)],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["exit"] == 0, got["output"]
    assert got["calls"] == [["serving.main:app_factory", 2]]
    assert json.loads((events / CONTROL_FILE).read_text()) == {"bundle": str(bundle.resolve())}
    assert list(events.iterdir()) == [events / CONTROL_FILE]  # no temporary file left
    assert got["heavy"] == [], got["heavy"]
    assert SETTINGS_ENV == "SHELFRANK_EFFECTIVE_SETTINGS"
