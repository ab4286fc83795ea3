"""Surface names and codes are defined once, in ranking/surfaces.py, and everyone reads them there."""

from __future__ import annotations

import ast
from pathlib import Path

from ranking.pipeline.candidates import RankRequest
from ranking.surfaces import HOMEPAGE, SURFACE_CODES, SURFACE_NAMES, SURFACES

REPO = Path(__file__).resolve().parents[1]


def test_a_surfaces_code_is_its_position_and_names_round_trip():
    assert SURFACES == ("search", "homepage", "channel")
    assert [SURFACE_NAMES[SURFACE_CODES[s]] for s in SURFACES] == list(SURFACES)
    request = RankRequest(surface=HOMEPAGE, page_size=1, now_ms=0, hour=0)
    assert request.surface_code == 1


def _spells_the_surfaces(node: ast.AST) -> bool:
    """A literal tuple, list, set or dict (keys or values) holding every surface name."""
    if isinstance(node, ast.Dict):
        items = [*node.keys, *node.values]
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = node.elts
    else:
        return False
    names = {x.value for x in items if isinstance(x, ast.Constant) and isinstance(x.value, str)}
    return set(SURFACES) <= names


def test_no_module_spells_out_the_surface_list_or_codes_again():
    # the settings' traffic shares per surface and the event log's (owned elsewhere) are data
    allowed = {"ranking/surfaces.py", "ranking/settings.py"}
    found = []
    for folder in ("ranking", "serving", "training", "bench", "shelfrank"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in allowed:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found += [f"{rel}:{n.lineno}" for n in ast.walk(tree) if _spells_the_surfaces(n)]
    assert not found, f"surface names listed outside ranking/surfaces.py: {found}"
