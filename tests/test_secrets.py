"""Secret settings (``serving.admin_token``) never reach a bundle, a log or a response.

Issue 24: ``shelfrank train`` wrote every setting, the admin token included, into the
bundle's manifest.json, and the unauthenticated ``GET /v1/bundle`` served it.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ranking.bundle import Bundle
from ranking.settings import SECRET_MASK, Settings, load_settings, settings_json_with_secrets
from serving.app import create_app
from shelfrank.cli import app

runner = CliRunner()
FAST = ["--set", "training.num_boost_round=30", "--set", "training.early_stopping_rounds=10",
        "--set", "training.funnel.num_boost_round=40", "--set", "training.live_features=false"]


@pytest.fixture(scope="module")
def trained_with_token(small_mall: Path, tmp_path_factory: pytest.TempPathFactory):
    """``shelfrank train`` run with SHELFRANK_SERVING__ADMIN_TOKEN set: (token, models folder,
    everything the command printed and logged)."""
    token = f"tok-{uuid.uuid4().hex}"
    models = tmp_path_factory.mktemp("models_with_token")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHELFRANK_SERVING__ADMIN_TOKEN", token)
        records: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger().addHandler(handler)
        try:
            result = runner.invoke(app, [*FAST, "train", "--data", str(small_mall), "--out", str(models),
                                         "--no-progress"])
        finally:
            logging.getLogger().removeHandler(handler)
    assert result.exit_code == 0, result.output
    return token, models, result.output + "\n".join(records)


def test_no_file_the_training_run_writes_holds_the_token(trained_with_token) -> None:
    token, models, printed = trained_with_token
    files = [p for p in models.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files)
    holding = [str(p) for p in files if token.encode() in p.read_bytes()]
    assert not holding, f"the admin token is in {holding}"
    assert token not in printed


def test_the_service_hides_the_token_from_its_bundle_endpoint_and_still_accepts_it(
        trained_with_token, tmp_path: Path) -> None:
    token, models, _ = trained_with_token
    settings = load_settings([f"serving.bundle={models / 'latest'}", f"serving.events_dir={tmp_path}",
                              f"serving.admin_token={token}"])
    with TestClient(create_app(settings)) as client:
        shown = client.get("/v1/bundle")
        assert shown.status_code == 200 and token not in shown.text
        assert shown.json()["settings"]["serving"]["admin_token"] == SECRET_MASK
        assert client.post("/admin/reload", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_a_bundle_trained_before_the_fix_is_served_without_its_token() -> None:
    """An old manifest holds the token in clear: /v1/bundle masks it all the same."""
    old = {"version": "v1", "settings": {"serving": {"admin_token": "old-secret", "port": 8000}}}
    shown = Bundle(Path("."), old, None, None).public_manifest  # type: ignore[arg-type]
    assert shown["settings"]["serving"] == {"admin_token": SECRET_MASK, "port": 8000}
    assert old["settings"]["serving"]["admin_token"] == "old-secret"  # the loaded bundle is untouched


def test_shelfrank_settings_masks_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFRANK_SERVING__ADMIN_TOKEN", "env-secret-123")
    shown = runner.invoke(app, ["--set", "serving.port=8001", "settings"])
    assert shown.exit_code == 0 and "env-secret-123" not in shown.output
    assert f'"admin_token": "{SECRET_MASK}"' in shown.output
    unset = runner.invoke(app, ["--set", "serving.admin_token=", "settings"])
    assert '"admin_token": ""' in unset.output  # "admin disabled" stays visible


def test_serve_hands_the_token_to_its_workers_and_nothing_else_does() -> None:
    settings = load_settings(["serving.admin_token=hand-over"])
    assert "hand-over" not in settings.model_dump_json() and "hand-over" not in repr(settings)
    worker = Settings.model_validate_json(settings_json_with_secrets(settings))
    assert worker.serving.admin_token.get_secret_value() == "hand-over"


def test_client_tokens_are_secrets_too_set_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFRANK_SERVING__CLIENT_TOKENS", '{"web": "web-secret-456"}')
    shown = runner.invoke(app, ["settings"])
    assert shown.exit_code == 0 and "web-secret-456" not in shown.output
    assert f'"web": "{SECRET_MASK}"' in shown.output  # the name stays visible
    settings = load_settings([])
    assert "web-secret-456" not in settings.model_dump_json() and "web-secret-456" not in repr(settings)
    worker = Settings.model_validate_json(settings_json_with_secrets(settings))
    assert worker.serving.client_tokens["web"].get_secret_value() == "web-secret-456"
