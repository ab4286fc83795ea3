"""bench.personal_lists: the per-bundle lists' build cost, their check against the scan and their
addition to an existing bundle, on the small bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench import personal_lists
from ranking.bundle import resolve_bundle, verify_bundle
from ranking.recall.homepage import HomepageRecall
from ranking.recall.taste_lists import LISTS_FILE, META_FILE


def test_a_small_bundle_keeps_every_shoppers_list_as_the_scan_gives_it(small_models: Path, capsys) -> None:
    bundle = resolve_bundle(small_models / "latest")
    assert HomepageRecall.load(bundle / "recall" / "homepage").tastes is not None  # built by default
    personal_lists.main([str(bundle), "--threads", "1,2", "--check", "0"])
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "exact" and out["k"] > 0 and [r["threads"] for r in out["runs"]] == [1, 2]
    for run in out["runs"]:
        assert 0 < run["shoppers"] <= out["users"] and run["bytes"] > 4 * run["shoppers"]
        assert run["cpu_s"] > 0 and run["wall_s"] > 0
    assert out["check"]["compared"] == out["runs"][0]["shoppers"] and out["check"]["differ"] == 0


def test_write_adds_the_lists_to_a_bundle_built_without_them(small_models: Path, tmp_path: Path,
                                                             capsys) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(resolve_bundle(small_models / "latest"), bundle)
    home = bundle / "recall" / "homepage"
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name in (LISTS_FILE, META_FILE):  # as an older bundle: no lists
        (home / name).unlink()
        manifest["files"].pop(f"recall/homepage/{name}")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert HomepageRecall.load(home).tastes is None
    personal_lists.main([str(bundle), "--threads", "1", "--write"])
    assert json.loads(capsys.readouterr().out)["written"].endswith(LISTS_FILE)
    assert f"recall/homepage/{LISTS_FILE}" in verify_bundle(bundle)["files"]
    assert HomepageRecall.load(home).tastes is not None
