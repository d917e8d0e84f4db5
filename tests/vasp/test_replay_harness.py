"""The stand-in vasp executable on its own: input mismatches, replayed failures, state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from htflow.testing.vasp_inputs import parse_incar_value, read_incar
from htflow.testing.vasp_replay import MISMATCH_EXIT, REPLAY_ENV, RUN_STATE_FILE, write_manifest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.shared


def _run(run_dir: Path, manifest: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop(REPLAY_ENV, None)
    if manifest is not None:
        env[REPLAY_ENV] = str(manifest)
    return subprocess.run(
        [sys.executable, "-m", "htflow.testing.fake_vasp"],
        cwd=run_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def run_dir(tmp_path: Path, recorded: Path) -> Path:
    """A run directory holding exactly the recorded inputs of postprocess/."""
    path = tmp_path / "run"
    path.mkdir()
    for name in ("INCAR", "KPOINTS", "POSCAR"):
        shutil.copy(recorded / "postprocess" / name, path / name)
    return path


def test_incar_values() -> None:
    assert parse_incar_value("2*0.6 5") == [0.6, 0.6, 5]
    assert parse_incar_value(".TRUE.") is True
    assert parse_incar_value("1e-05") == 1e-5
    assert parse_incar_value("Auto") == "Auto"


def test_replays_recorded_outputs(run_dir: Path, recorded: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.json", {"relax": {"recorded": str(recorded / "postprocess")}}, "relax"
    )
    done = _run(run_dir, manifest)
    assert done.returncode == 0, done.stderr
    for name in ("vasprun.xml", "OUTCAR", "OSZICAR", "CONTCAR"):
        assert (run_dir / name).stat().st_size > 0  # gunzipped copies
    assert json.loads((run_dir / RUN_STATE_FILE).read_text())["attempts"] == 1


def test_mismatch_reported_with_every_difference(
    run_dir: Path, recorded: Path, tmp_path: Path
) -> None:
    incar = (run_dir / "INCAR").read_text()
    incar = incar.replace("ENCUT = 520", "ENCUT = 400").replace("ISIF = 3\n", "")
    (run_dir / "INCAR").write_text(incar)
    (run_dir / "KPOINTS").write_text("auto\n0\nMonkhorst\n2 2 2\n")
    manifest = write_manifest(
        tmp_path / "m.json", {"relax": {"recorded": str(recorded / "postprocess")}}, "relax"
    )
    done = _run(run_dir, manifest)
    assert done.returncode == MISMATCH_EXIT
    assert "INCAR ENCUT: expected 520, got 400" in done.stderr
    assert "INCAR ISIF: expected 3, absent" in done.stderr
    assert "KPOINTS style: expected G, got M" in done.stderr
    assert "KPOINTS mesh: expected (1, 1, 1), got (2, 2, 2)" in done.stderr
    assert not (run_dir / "vasprun.xml").exists()


def test_failure_then_success_per_attempt(run_dir: Path, recorded: Path, tmp_path: Path):
    brmix = recorded / "stdout_errors" / "vasp.brmix"
    manifest = write_manifest(
        tmp_path / "m.json",
        {
            "relax": {
                "recorded": str(recorded / "postprocess"),
                "attempts": [
                    {"mode": "fail", "stdout": str(brmix)},
                    {"incar_expect": {"IMIX": 1}},
                ],
            }
        },
        "relax",
    )
    first = _run(run_dir, manifest)
    assert first.returncode == 1
    assert "BRMIX: very serious problems" in first.stdout
    second = _run(run_dir, manifest)  # no correction applied: the expectation is unmet
    assert second.returncode == MISMATCH_EXIT
    assert "INCAR IMIX: expected 1, absent" in second.stderr
    with open(run_dir / "INCAR", "a") as handle:
        handle.write("IMIX = 1\n")
    third = _run(run_dir, manifest)
    assert third.returncode == 0, third.stderr
    assert read_incar(run_dir / "INCAR")["IMIX"] == 1


def test_misconfigured_replay_exits_2(run_dir: Path, tmp_path: Path) -> None:
    assert _run(run_dir, None).returncode == 2
    manifest = write_manifest(tmp_path / "m.json", {"static": {"recorded": str(tmp_path)}})
    done = _run(run_dir, manifest)
    assert done.returncode == 2
    assert "no replay entry" in done.stderr
