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


ControlMark = tuple[int, int]
"""Which write of the control file a worker has seen: its inode and mtime. Every write is a new
file (a rename over the old one), so two writes differ in inode even where the file system's
clock is too coarse to tell their mtimes apart."""


def control_mark(path: Path) -> ControlMark | None:
    """The mark of the control file now, or None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def write_control(events_dir: Path, bundle: str) -> ControlMark:
    """Record ``bundle`` in ``<events_dir>/.serving.json`` atomically (a temporary file, fsync,
    rename) and return the mark of that write; on failure no temporary file is left and the
    OSError is raised."""
    events_dir.mkdir(parents=True, exist_ok=True)
    path = events_dir / CONTROL_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps({"bundle": bundle}))
            f.flush()
            os.fsync(f.fileno())
            st = os.fstat(f.fileno())  # the rename keeps both: the mark is this write's
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return st.st_ino, st.st_mtime_ns
