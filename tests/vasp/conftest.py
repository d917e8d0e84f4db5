"""Fixtures for VASP replay: recorded runs in ../shared, fake POTCARs, a profile whose VASP
command is the stand-in executable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from htflow.cluster.profile import ClusterProfile
from htflow.testing.fake_potcars import make_fake_psp_dir
from htflow.testing.vasp_replay import REPLAY_ENV, write_manifest

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / ".." / "shared" / "reference" / "vasp"
FAKE_VASP = f"{sys.executable} -m htflow.testing.fake_vasp"
# POTCAR symbols of MPRelaxSet for the recorded structures (FeO, Al, Na2FeNiO4).
FAKE_SYMBOLS = ("Fe_pv", "O", "Al", "Na_pv", "Ni_pv", "Si")


@pytest.fixture
def recorded() -> Path:
    """The recorded VASP runs (../shared/reference/vasp); skip when absent."""
    if not RECORDED.is_dir():
        pytest.skip(f"recorded VASP outputs not found at {RECORDED.resolve()} (needs ../shared)")
    return RECORDED.resolve()


@pytest.fixture
def fake_psp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PMG_VASP_PSP_DIR pointing at fake POTCAR headers, for pymatgen and htflow alike."""
    from pymatgen.core import SETTINGS

    root = make_fake_psp_dir(tmp_path / "psp", FAKE_SYMBOLS)
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(root))
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", str(root))
    return root


@pytest.fixture
def profile() -> ClusterProfile:
    """A one-rank profile whose VASP commands are the stand-in executable."""
    return ClusterProfile(
        name="replay",
        vasp_cmd=FAKE_VASP,
        vasp_gamma_cmd=FAKE_VASP,
        ranks_per_calculation=1,
    )


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a replay manifest and point $HTFLOW_VASP_REPLAY at it."""

    def _write(jobs: dict[str, Any], default: str | None = None) -> Path:
        path = write_manifest(tmp_path / "replay.json", jobs, default=default)
        monkeypatch.setenv(REPLAY_ENV, str(path))
        return path

    return _write


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path (jobflow's run_locally and custodian write into the cwd)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
