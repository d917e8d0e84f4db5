"""URI resolution and password redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from htflow.db import redact, resolve
from htflow.exceptions import InputError
from htflow.settings import settings_env


def test_default_is_embedded_store_under_home(tmp_path: Path) -> None:
    with settings_env(home=tmp_path):
        target = resolve()
    assert target.kind == "embedded"
    assert target.path == tmp_path / "db"
    assert target.database == "htflow"
    assert target.lock_path == tmp_path / "db" / "writer.lock"


def test_setting_db_uri_is_used(tmp_path: Path) -> None:
    with settings_env(home=tmp_path, db_uri=f"file://{tmp_path / 'elsewhere'}"):
        assert resolve().path == tmp_path / "elsewhere"


@pytest.mark.parametrize("form", ["file://{p}", "{p}"])
def test_file_uri_and_plain_path(tmp_path: Path, form: str) -> None:
    target = resolve(form.format(p=tmp_path / "x"))
    assert target.kind == "embedded"
    assert target.path == tmp_path / "x"
    assert target.uri == f"file://{tmp_path / 'x'}"


@pytest.mark.parametrize(
    ("uri", "database"),
    [
        ("mongodb://localhost:27017", "htflow"),
        ("mongodb://localhost:27017/", "htflow"),
        ("mongodb://u:p@h1:27017,h2:27017/campaign?replicaSet=rs0", "campaign"),
        ("mongodb+srv://u:p@cluster0.example.net/prod?retryWrites=true", "prod"),
    ],
)
def test_mongodb_database_name(uri: str, database: str) -> None:
    target = resolve(uri)
    assert target.kind == "mongodb"
    assert target.database == database
    assert target.path is None


def test_unknown_scheme_is_one_line_input_error() -> None:
    with pytest.raises(InputError, match="unknown scheme") as info:
        resolve("postgres://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://alice:s3cr%40t@h:27017/db", "mongodb://alice:***@h:27017/db"),
        ("mongodb+srv://bob:pw@c.example.net/x?w=1", "mongodb+srv://bob:***@c.example.net/x?w=1"),
        ("mongodb://h/db?authSource=a&password=pw2", "mongodb://h/db?authSource=a&password=***"),
        ("mongodb://user@h/db", "mongodb://user@h/db"),
        ("file:///tmp/db", "file:///tmp/db"),
        (None, "<none>"),
    ],
)
def test_redact(uri: str | None, expected: str) -> None:
    assert redact(uri) == expected


def test_redacted_target_hides_password() -> None:
    assert "topsecret" not in resolve("mongodb://u:topsecret@h/db").redacted
