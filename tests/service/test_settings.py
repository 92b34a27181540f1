"""The one settings object: safe by default, every derived folder and URL filled from SDD_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_production_is_the_default_and_refuses_placeholder_secrets(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).env == "production"  # the embedded default passes its checks
    placeholder = "postgresql+psycopg://sdd:changeme@db/sdd"
    with pytest.raises(ValidationError, match="placeholder password"):
        Settings(home=tmp_path, database_url=placeholder)
    with pytest.raises(ValidationError, match="SDD_UI_SECRET_KEY is a placeholder"):
        Settings(home=tmp_path, ui_secret_key="secret")
    assert Settings(home=tmp_path, env="development", database_url=placeholder).database_url == placeholder


def test_folders_and_urls_left_unset_or_empty_derive_from_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SDD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SDD_DATA_ROOT", "")  # an empty variable counts as unset
    settings = Settings()
    home = tmp_path / "home"
    assert (settings.artifact_dir, settings.data_root, settings.work_dir, settings.cache_dir) == (
        home / "artifacts",
        home / "data",
        home / "work",
        home / "cache",
    )
    assert settings.database_url == f"sqlite:///{home / 'sdd.sqlite'}"
    assert settings.broker_is_filesystem
    given = Settings(home=tmp_path, data_root=tmp_path / "datasets", broker_url="redis://127.0.0.1:1/0")
    assert given.data_root == tmp_path / "datasets" and not given.broker_is_filesystem
