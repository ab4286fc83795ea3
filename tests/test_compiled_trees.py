"""The compiled trees (ranking/compiled_trees.py): the small code model when the object loads as
one block, bundles compiled before still loading, the same floats as lleaves, and the per-thread
buffer the features are copied into."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from threads_at_once import run_at_once

lleaves = pytest.importorskip("lleaves")


from ranking import compiled_trees  # noqa: E402
from ranking.compiled_trees import CompiledTrees, compile_trees, contiguous_loadable  # noqa: E402
from ranking.model import RankingModel  # noqa: E402

N_FEATURES = 7


def _model_file(folder: Path, objective: str = "regression", **params) -> Path:
    rng = np.random.default_rng(3)
    x = rng.random((2000, N_FEATURES))
    y = x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + 0.1 * rng.random(2000)
    if objective == "binary":
        y = (y > np.median(y)).astype(float)
    if objective == "multiclass":
        y = np.digitize(y, np.quantile(y, [0.33, 0.66])).astype(float)
    booster = lgb.train({"objective": objective, "verbosity": -1, "num_leaves": 15, "seed": 1, **params},
                        lgb.Dataset(x, y), 30)
    path = folder / "model.txt"
    booster.save_model(str(path))
    return path


def _rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, N_FEATURES)).astype(np.float32)


def _lleaves_scores(model_file: Path, object_file: Path, rows: np.ndarray) -> np.ndarray:
    """lleaves' own load and predict: what the service called before."""
    model = lleaves.Model(model_file=str(model_file))
    model.compile(cache=str(object_file))
    return model.predict(np.ascontiguousarray(rows, dtype=np.float64), n_jobs=1)


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A model and its objects: compiled here (small) and by lleaves' default (large: old bundles)."""
    folder = tmp_path_factory.mktemp("compiled")
    model_file = _model_file(folder)
    assert compile_trees(model_file, folder / "small.so") == "small"
    lleaves.Model(model_file=str(model_file)).compile(cache=str(folder / "large.so"))
    return model_file, folder / "small.so", folder / "large.so"


def test_small_objects_load_as_one_block_and_large_ones_as_before(objects) -> None:
    _, small, large = objects
    assert contiguous_loadable(small.read_bytes())
    assert not contiguous_loadable(large.read_bytes())  # its GOT offsets need LLVM's own loader
    assert CompiledTrees.load(small, N_FEATURES).contiguous
    assert not CompiledTrees.load(large, N_FEATURES).contiguous
    assert not list(small.parent.glob(".small.so.small-*"))  # no trial object left behind


def test_either_object_scores_what_lleaves_scored_to_the_bit(objects) -> None:
    model_file, small, large = objects
    booster = lgb.Booster(model_file=str(model_file))
    for n in (1, 37, 500, 4000):
        rows = _rows(n, seed=n)
        want = _lleaves_scores(model_file, large, rows)
        for object_file in (small, large):
            trees = CompiledTrees.load(object_file, N_FEATURES)
            assert np.array_equal(trees.score(rows), want)
            assert np.array_equal(trees.score(rows.astype(np.float64)), want)
            assert np.array_equal(trees.score(rows, num_threads=3), want)
        np.testing.assert_allclose(want, booster.predict(rows), rtol=1e-12, atol=1e-12)


def test_a_bundle_model_loads_either_object(objects) -> None:
    model_file, small, large = objects
    rows = _rows(300)
    want = _lleaves_scores(model_file, large, rows)
    for object_file in (small, large):
        model = RankingModel.load(model_file, object_file)
        assert model.scorer == "lleaves" and np.array_equal(model.score(rows), want)


def test_an_objective_calling_a_library_function_compiles_large(tmp_path: Path) -> None:
    model_file = _model_file(tmp_path, "binary")  # the sigmoid calls exp: a symbol outside the object
    assert compile_trees(model_file, tmp_path / "model.so") == "large"
    rows = _rows(200)
    want = _lleaves_scores(model_file, tmp_path / "model.so", rows)
    assert np.array_equal(CompiledTrees.load(tmp_path / "model.so", N_FEATURES).score(rows), want)


def test_too_large_or_foreign_objects_are_not_loaded_as_one_block(objects, monkeypatch) -> None:
    _, small, _ = objects
    data = small.read_bytes()
    assert not contiguous_loadable(b"not an object at all" * 10)
    assert not contiguous_loadable(data[:4] + b"\x01" + data[5:])  # a 32-bit ELF
    monkeypatch.setattr(compiled_trees, "MAX_SMALL_OBJECT", len(data))
    assert not contiguous_loadable(data)


def test_a_multiclass_model_scores_with_lightgbm(tmp_path: Path) -> None:
    model_file = _model_file(tmp_path, "multiclass", num_class=3)
    lleaves.Model(model_file=str(model_file)).compile(cache=str(tmp_path / "model.so"))
    assert RankingModel.load(model_file, tmp_path / "model.so").scorer == "lightgbm"


def test_rows_of_the_wrong_width_are_refused(objects) -> None:
    trees = CompiledTrees.load(objects[1], N_FEATURES)
    with pytest.raises(ValueError, match="features must be"):
        trees.score(np.zeros((4, N_FEATURES + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="features must be"):
        trees.score(np.zeros(N_FEATURES, dtype=np.float32))


def test_the_copy_reuses_the_threads_buffer_and_never_leaks_old_rows(objects, monkeypatch) -> None:
    model_file, small, large = objects
    trees = CompiledTrees.load(small, N_FEATURES)
    big, few = _rows(600, seed=1), _rows(90, seed=2)
    first = trees.score(big)
    kept = compiled_trees._KEPT.rows
    second = trees.score(few)
    assert compiled_trees._KEPT.rows is kept  # no new array for a page that fits
    assert np.array_equal(second, _lleaves_scores(model_file, large, few))
    assert np.array_equal(first, trees.score(big))  # an earlier result is not a view of the buffer
    monkeypatch.setattr(compiled_trees, "MAX_KEPT_VALUES", 10 * N_FEATURES)
    assert np.array_equal(trees.score(big), first)  # over the cap: a fresh copy, nothing kept
    assert compiled_trees._KEPT.rows is kept
    monkeypatch.undo()
    assert compiled_trees._KEPT.at == kept.ctypes.data  # the buffer's address, kept with it
    compiled_trees._KEPT.rows = kept[:10]  # too small for a page: grown, with its new address
    assert np.array_equal(trees.score(big), first) and compiled_trees._KEPT.rows is not kept
    assert compiled_trees._KEPT.at == compiled_trees._KEPT.rows.ctypes.data != kept.ctypes.data
    as_written = np.ascontiguousarray(big.astype(np.float32).T).T  # a page's F-order float32 rows
    assert np.array_equal(trees.score(as_written), trees.score(np.ascontiguousarray(as_written)))


def test_threads_scoring_at_once_each_get_their_own_rows(objects) -> None:
    model_file, small, large = objects
    trees = CompiledTrees.load(small, N_FEATURES)
    pages = [_rows(50 + 40 * i, seed=10 + i) for i in range(8)]
    wants = [_lleaves_scores(model_file, large, page) for page in pages]
    wrong, buffers = [], []

    def serve(i: int) -> None:
        for _ in range(40):
            if not np.array_equal(trees.score(pages[i]), wants[i]):
                wrong.append(i)
        buffers.append(compiled_trees._KEPT.rows)  # held: ids stay distinct while alive

    run_at_once(serve, [(i,) for i in range(8)])
    assert not wrong and len({id(b) for b in buffers}) == 8


def test_training_builds_the_small_object(small_models: Path) -> None:
    from ranking.bundle import load_bundle

    bundle = load_bundle(small_models / "latest")
    assert bundle.manifest["scorer"] == "lleaves" and bundle.model.compiled.contiguous
    # under a name of its own: a service older than the small code model finds no ``model.so`` and
    # scores with LightGBM, instead of loading the object with a loader its offsets may not reach
    compiled = (small_models / "latest").resolve() / "compiled"
    assert (compiled / "model-small.so").exists() and not (compiled / "model.so").exists()


def test_compile_model_names_the_object_by_its_code_model(tmp_path: Path) -> None:
    from ranking.model import COMPILED_FILE, SMALL_COMPILED_FILE, compile_model, compiled_file_in

    small_dir, large_dir = tmp_path / "small", tmp_path / "large"
    small_dir.mkdir(), large_dir.mkdir()
    _, small = compile_model(_model_file(small_dir), small_dir)
    _, large = compile_model(_model_file(large_dir, "binary"), large_dir)  # calls exp: large
    assert small.name == SMALL_COMPILED_FILE and large.name == COMPILED_FILE
    assert sorted(p.name for p in small_dir.iterdir()) == sorted(["model.txt", SMALL_COMPILED_FILE])
    assert sorted(p.name for p in large_dir.iterdir()) == sorted(["model.txt", COMPILED_FILE])
    assert compiled_file_in(small_dir) == small and compiled_file_in(large_dir) == large
    assert compiled_file_in(tmp_path) == tmp_path / COMPILED_FILE  # none: LightGBM scores
