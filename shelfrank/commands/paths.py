"""Output paths checked before a command does its work: one ``error:`` line and exit 2.

Commands that train or evaluate for minutes used to find out only at the end that their
``--out`` or ``--json`` could not be written (a file where a folder was wanted, a folder
where a file was) and died with a traceback. These checks run first and create nothing:
a path passes when it is a writable folder (or file), or when its nearest existing
ancestor is a writable folder the command can create it in.
"""

from __future__ import annotations

import os
from pathlib import Path

from shelfrank.context import fail


def _check_creatable(path: Path, option: str, what: str) -> None:
    """``path`` does not exist: its nearest existing ancestor must be a writable folder."""
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{option} {path}: cannot create this {what}, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        fail(f"{option} {path}: cannot create this {what}, {ancestor} is not writable")


def output_dir(path: Path | None, option: str) -> None:
    """Fail unless ``path`` is a writable folder or can be created as one; None passes."""
    if path is None:
        return
    if path.exists():
        if not path.is_dir():
            fail(f"{option} {path}: is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            fail(f"{option} {path}: this folder is not writable")
    else:
        _check_creatable(path, option, "folder")


def output_file(path: Path | None, option: str) -> None:
    """Fail unless ``path`` is a writable file or can be created as one; None passes."""
    if path is None:
        return
    if path.exists():
        if path.is_dir():
            fail(f"{option} {path}: is a folder; give a file name")
        if not os.access(path, os.W_OK):
            fail(f"{option} {path}: this file is not writable")
    else:
        _check_creatable(path, option, "file")
