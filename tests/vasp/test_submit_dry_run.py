"""``htflow submit CAMPAIGN --dry-run`` for a campaign with ``code: vasp``: the atomate2 jobs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
import yaml
from typer.testing import CliRunner

from htflow.cli.submit import submit_app
from htflow.cluster.profile import PROFILE_DIR
from htflow.vasp import describe_vasp_flow

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings("ignore")


def _campaign(tmp_path: Path, vasp_cmd: str | None) -> Path:
    profile = yaml.safe_load((PROFILE_DIR / "local.yaml").read_text())
    profile["name"] = "vasp-site"
    if vasp_cmd:
        profile["vasp_cmd"] = vasp_cmd
    profile_path = tmp_path / "vasp-site.yaml"
    profile_path.write_text(yaml.safe_dump(profile))
    spec = {
        "name": "vasp-al",
        "code": "vasp",
        "protocol": "balanced",
        "cluster": str(profile_path),
        "sources": {"prototypes": [{"prototype": "fcc", "sites": {"A": ["Al"]}}]},
        "workflow": ["relax_static_dos"],
    }
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(submit_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_dry_run_prints_the_atomate2_jobs(fake_psp: Path, tmp_path: Path) -> None:
    campaign = _campaign(tmp_path, f"{sys.executable} -m htflow.testing.fake_vasp")
    code, out, err = _run(str(campaign), "--dry-run", "--db", str(tmp_path / "db"), "--offline")
    assert code == 0, err
    assert "dry run: nothing submitted" in out
    assert "vasp-al Al relax_static_dos: atomate2 jobs" in out
    # balanced = double relaxation, then atomate2's uniform band structure (static → non-SCF)
    for line in ("relax 1 (RelaxMaker)", "relax 2 (RelaxMaker)", "static (StaticMaker)"):
        assert f"  {line}" in out
    assert "non-scf uniform (NonSCFMaker)" in out
    from pymatgen.core import Lattice, Structure

    fcc = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.05), ["Al"], [[0, 0, 0]])
    for line in describe_vasp_flow(fcc.get_primitive_structure(), "relax_static_dos"):
        assert line in out


def test_dry_run_without_potcars_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymatgen.core import SETTINGS

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", None)
    campaign = _campaign(tmp_path, "vasp_std")
    code, _, err = _run(str(campaign), "--dry-run", "--db", str(tmp_path / "db"), "--offline")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "PMG_VASP_PSP_DIR" in line


def test_dry_run_without_vasp_cmd_fails_in_one_line(fake_psp: Path, tmp_path: Path) -> None:
    code, _, err = _run(
        str(_campaign(tmp_path, None)), "--dry-run", "--db", str(tmp_path / "db"), "--offline"
    )
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "no vasp_cmd" in line
