"""Fixtures for campaign tests: a campaign directory, structures, an embedded LaunchPad."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml
from pymatgen.core import Lattice, Structure

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad


def silicon(a: float = 5.47) -> Structure:
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def rocksalt_nacl(a: float = 5.6) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
    )


@pytest.fixture(autouse=True)
def htflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own htflow home (and so its own embedded database)."""
    home = tmp_path / "home"
    monkeypatch.setenv("HTFLOW_HOME", str(home))
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("HTFLOW_DB_URI", raising=False)
    monkeypatch.delenv("MP_API_KEY", raising=False)
    return home


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    return f"file://{tmp_path}/db"


@pytest.fixture
def launchpad(db_uri: str) -> LaunchPad:
    from htflow.db import get_launchpad

    return get_launchpad(db_uri)


BASE_SPEC = {
    "name": "test",
    "protocol": "fast",
    "cluster": "local",
    "workflow": ["relax_static_dos"],
}


@pytest.fixture
def write_campaign(tmp_path: Path) -> Callable[..., Path]:
    """write_campaign(**keys) → path of a campaign YAML in tmp_path/campaign/."""

    def write(text: str | None = None, **keys: object) -> Path:
        directory = tmp_path / "campaign"
        directory.mkdir(exist_ok=True)
        path = directory / "campaign.yaml"
        if text is None:
            text = yaml.safe_dump({**BASE_SPEC, **keys}, sort_keys=False)
        path.write_text(text)
        return path

    return write
