"""Experiment config, hashed assignment and team-draft interleaving."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ranking.experiments import Assigner, ExperimentsConfig, load_experiments, team_draft


def _config(**over) -> ExperimentsConfig:
    raw = {"experiments": [
        {"name": "ranker", "layer": "ranking", "salt": "s1", "traffic": 0.5,
         "variants": [{"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}]},
        {"name": "ranker-b", "layer": "ranking", "salt": "s2", "traffic": 0.5,
         "variants": [{"name": "a", "share": 1.0}]},
        {"name": "theme", "layer": "rules", "salt": "s3",
         "variants": [{"name": "off", "share": 0.2, "rules": {"theme_boost": 0.0}},
                      {"name": "on", "share": 0.8}]},
    ]}
    raw.update(over)
    return ExperimentsConfig.model_validate(raw)


def test_assignment_is_deterministic_and_follows_the_shares():
    a1, a2 = Assigner(_config()), Assigner(_config())
    units = [str(u) for u in range(100_000)]
    first = [a1.assign(u) for u in units]
    assert first[:20_000] == [a2.assign(u) for u in units[:20_000]]  # a fresh assigner agrees
    theme = Counter(next(x.variant for x in a if x.experiment == "theme") for a in first)
    assert theme["off"] / len(units) == pytest.approx(0.2, abs=0.01)
    ranking = Counter(next(x.experiment for x in a if x.layer == "ranking") for a in first)
    assert ranking["ranker"] / len(units) == pytest.approx(0.5, abs=0.015)


def test_experiments_in_one_layer_exclude_each_other_and_layers_overlap():
    assigner = Assigner(_config())
    for u in range(2000):
        got = assigner.assign(str(u))
        layers = [a.layer for a in got]
        assert layers.count("ranking") == 1 and layers.count("rules") == 1
    # overlap is independent: the rules variant does not depend on the ranking experiment
    both = Counter((a[0].experiment, a[1].variant) for a in (assigner.assign(str(u)) for u in range(20_000)))
    share_off = {e: both[(e, "off")] / (both[(e, "off")] + both[(e, "on")]) for e in ("ranker", "ranker-b")}
    assert abs(share_off["ranker"] - share_off["ranker-b"]) < 0.02


def test_a_qa_override_forces_the_variant_and_an_unknown_one_is_refused():
    assigner = Assigner(_config())
    got = assigner.assign("42", override={"ranker": "treatment"})
    assert any(a.experiment == "ranker" and a.variant == "treatment" for a in got)
    with pytest.raises(ValueError, match="no variant"):
        assigner.assign("42", override={"ranker": "nope"})


@pytest.mark.parametrize("bad,reason", [
    ({"experiments": [{"name": "x", "salt": "s", "variants": [{"name": "a", "share": 0.6}]}]}, "sum to"),
    ({"experiments": [{"name": "x", "salt": "s", "traffic": 0.7, "variants": [{"name": "a", "share": 1}]},
                      {"name": "y", "salt": "t", "traffic": 0.7, "variants": [{"name": "a", "share": 1}]}]},
     "of its traffic"),
    ({"experiments": [{"name": "x", "salt": "s", "mode": "interleave",
                       "variants": [{"name": "a", "share": 1}]}]}, "exactly two"),
    ({"experiments": [{"name": "x", "salt": "s", "variants": [
        {"name": "a", "share": 1, "rules": {"theme_boots": 1}}]}]}, "theme_boots"),
])
def test_a_bad_config_is_refused_with_the_reason(tmp_path, bad, reason):
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=reason):
        load_experiments(path)


@given(st.lists(st.integers(0, 40), unique=True, max_size=30),
       st.lists(st.integers(0, 40), unique=True, max_size=30), st.integers(1, 25), st.integers(0, 1000))
def test_team_draft_takes_each_teams_best_remaining_and_stays_balanced(a, b, k, seed):
    items, team = team_draft(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), k,
                             np.random.default_rng(seed))
    assert len(items) == len(set(items.tolist())) == min(k, len(set(a) | set(b)))
    counts = np.bincount(team, minlength=2)
    if set(a) - set(items.tolist()) and set(b) - set(items.tolist()):
        assert abs(int(counts[0]) - int(counts[1])) <= 1  # balanced while both can pick
    for i, (item, t) in enumerate(zip(items.tolist(), team.tolist(), strict=True)):
        ranking = a if t == 0 else b
        earlier = set(items[:i].tolist())
        assert item == next(x for x in ranking if x not in earlier)  # its best remaining


def test_another_process_assigns_the_same_way(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "e.json"
    path.write_text(_config().model_dump_json())
    code = ("import sys; from ranking.experiments import Assigner, load_experiments; "
            "a = Assigner(load_experiments(sys.argv[1])); "
            "print([[x.experiment + '=' + x.variant for x in a.assign(str(u))] for u in range(300)])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"}).stdout.strip()
    here = Assigner(_config())
    assert out == str([[x.experiment + "=" + x.variant for x in here.assign(str(u))] for u in range(300)])
