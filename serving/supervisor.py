"""What ``shelfrank serve``'s supervisor hands its workers, without importing the engine.

With several workers the supervisor process only starts, watches and stops them: each worker
is a fresh (spawned) interpreter that imports the app and loads the bundle itself. The
supervisor needs two things from the service: the environment variable carrying the effective
settings, and the control file naming the bundle every worker serves (``serving.state``
writes it again at each reload). They live here, apart from ``serving.main`` and
``serving.state``, because importing those pulls in the whole engine (numpy, pandas, scipy,
sklearn, FAISS): about 2.5 s of CPU per start that no worker reused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SETTINGS_ENV = "SHELFRANK_EFFECTIVE_SETTINGS"
CONTROL_FILE = ".serving.json"


def write_control(events_dir: Path, bundle: str) -> Path:
    """Record ``bundle`` in ``<events_dir>/.serving.json`` atomically (a temporary file, fsync,
    rename); on failure no temporary file is left and the OSError is raised."""
    events_dir.mkdir(parents=True, exist_ok=True)
    path = events_dir / CONTROL_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps({"bundle": bundle}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return path
