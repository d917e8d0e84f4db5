"""Recorded VASP runs replayed through atomate2 Makers, custodian and the stand-in executable.

The stand-in is started by custodian's VaspJob with the cluster profile's command, so these
tests cover htflow's command, handlers and atomate2's task documents; only VASP is replayed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from jobflow import run_locally
from pymatgen.io.vasp import Incar, Poscar, Vasprun

from htflow.testing.vasp_replay import RUN_STATE_FILE
from htflow.vasp.run import read_corrections
from tests.vasp.replay_helpers import (
    al,
    al_static_maker,
    feo,
    feo_relax_maker,
    nafenio,
    nafenio_relax_maker,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.shared, pytest.mark.filterwarnings("ignore")]

# The recorded FeO relaxation ends with T*S above custodian's 1 meV/atom LargeSigmaHandler
# limit, a handler newer than the recording: a replay cannot show the rerun with a smaller
# SIGMA, so the runs that must succeed leave it out (test_large_sigma_is_bounded keeps it).
NO_SIGMA = ("LargeSigmaHandler",)


def _run_dir(root: Path) -> Path:
    (path,) = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("job_")]
    return path


def _attempts(run_dir: Path) -> int:
    return int(json.loads((run_dir / RUN_STATE_FILE).read_text())["attempts"])


def test_relax_replayed_into_task_doc(recorded, fake_psp, profile, replay, in_tmp) -> None:
    replay({"relax": {"recorded": str(recorded / "postprocess")}})
    job = feo_relax_maker(profile, recorded, without=NO_SIGMA).make(feo(recorded))
    responses = run_locally(job, create_folders=True, ensure_success=True, log=False)

    doc = responses[job.uuid][1].output
    final = Vasprun(str(recorded / "postprocess" / "vasprun.xml.gz"))
    assert doc.state == "successful"
    assert doc.task_label == "relax"
    assert doc.output.energy == pytest.approx(final.final_energy, abs=1e-6)
    contcar = Poscar.from_file(recorded / "postprocess" / "CONTCAR").structure
    assert doc.output.structure.lattice.abc == pytest.approx(contcar.lattice.abc, abs=1e-5)
    incar = doc.calcs_reversed[0].input.incar
    assert (incar["ENCUT"], incar["ISIF"], incar["LDAUU"]) == (520, 3, [4.0, 0])
    # custodian ran once with no correction; the Γ-only mesh chose the profile's gamma command.
    assert len(doc.custodian) == 1
    assert doc.custodian[0].corrections == []
    assert "fake_vasp" in " ".join(doc.custodian[0].job["gamma_vasp_cmd"])
    run_dir = _run_dir(in_tmp)
    assert _attempts(run_dir) == 1
    assert json.loads((run_dir / "htflow_job.json").read_text())["job_name"] == "relax"


def test_zbrent_corrected_and_recorded(recorded, fake_psp, profile, replay, in_tmp) -> None:
    zbrent = recorded / "stdout_errors" / "vasp.zbrent"
    replay(
        {
            "relax": {
                "recorded": str(recorded / "postprocess"),
                "attempts": [
                    {"mode": "fail", "stdout": str(zbrent)},
                    # custodian's ZBRENT fix: EDIFF to 1e-6 and NELMIN 8, checked here.
                    {"mode": "succeed", "incar_expect": {"EDIFF": 1e-6, "NELMIN": 8}},
                ],
            }
        }
    )
    job = feo_relax_maker(profile, recorded, without=NO_SIGMA).make(feo(recorded))
    responses = run_locally(job, create_folders=True, ensure_success=True, log=False)

    doc = responses[job.uuid][1].output
    assert doc.state == "successful"
    (correction,) = doc.custodian[0].corrections
    assert correction["errors"] == ["zbrent"]
    assert correction["handler"]["@class"] == "VaspErrorHandler"
    sets = [a["action"]["_set"] for a in correction["actions"] if "_set" in a["action"]]
    assert {"EDIFF": 1e-6} in sets and {"NELMIN": 8} in sets
    run_dir = _run_dir(in_tmp)
    assert _attempts(run_dir) == 2
    assert Incar.from_file(run_dir / "INCAR.gz")["EDIFF"] == 1e-6
    assert read_corrections(run_dir) == doc.custodian[0].corrections


def test_large_sigma_is_bounded(recorded, fake_psp, profile, replay, in_tmp) -> None:
    """Every replay shows the same large T*S: custodian corrects twice, then gives up."""
    replay({"relax": {"recorded": str(recorded / "postprocess"), "incar_ignore": ["SIGMA"]}})
    job = feo_relax_maker(profile, recorded, max_errors=2).make(feo(recorded))
    responses = run_locally(job, create_folders=True, log=False)

    assert job.uuid not in responses or not responses[job.uuid]
    run_dir = _run_dir(in_tmp)
    corrections = read_corrections(run_dir)
    assert [c["handler"]["@class"] for c in corrections] == ["LargeSigmaHandler"] * 2
    assert _attempts(run_dir) == 2


def test_unconverged_electronic_is_bounded(recorded, fake_psp, profile, replay, in_tmp) -> None:
    """Unconverged SCF: classified by UnconvergedErrorHandler, retried max_errors times, failed."""
    replay(
        {
            "relax": {
                "recorded": str(recorded / "unconverged"),
                "attempts": [{"outputs": {"vasprun.xml": "electronic.vasprun.xml.gz"}}],
                # custodian's corrections change the SCF settings between attempts.
                "incar_ignore": ["ALGO", "ISEARCH", "ISTART", "NELMDL", "BMIX", "AMIX_MAG"],
            }
        }
    )
    job = nafenio_relax_maker(profile, max_errors=3).make(nafenio(recorded))
    responses = run_locally(job, create_folders=True, log=False)

    assert job.uuid not in responses or not responses[job.uuid]  # no task document
    run_dir = _run_dir(in_tmp)
    corrections = read_corrections(run_dir)
    assert len(corrections) == 3
    assert {c["handler"]["@class"] for c in corrections} == {"UnconvergedErrorHandler"}
    assert all(c["errors"] == ["Unconverged"] for c in corrections)
    assert _attempts(run_dir) == 3


def test_unconverged_unfixable_stops_at_once(recorded, fake_psp, profile, replay, in_tmp) -> None:
    """All SCF fixes already applied: custodian has no action left and stops after one run."""
    replay(
        {
            "relax": {
                "recorded": str(recorded / "unconverged"),
                "attempts": [{"outputs": {"vasprun.xml": "unconverged_unfixable.vasprun.xml.gz"}}],
            }
        }
    )
    job = nafenio_relax_maker(profile, max_errors=5).make(nafenio(recorded))
    responses = run_locally(job, create_folders=True, log=False)

    assert job.uuid not in responses or not responses[job.uuid]
    run_dir = _run_dir(in_tmp)
    (correction,) = read_corrections(run_dir)
    assert correction["handler"]["@class"] == "UnconvergedErrorHandler"
    assert correction["actions"] is None  # unrecoverable: no correction exists
    assert _attempts(run_dir) == 1


def test_static_inputs_match_but_recording_is_incomplete(
    recorded, fake_psp, profile, replay, in_tmp
) -> None:
    """static_smearing/ matches htflow's static inputs (r2SCAN, KSPACING), but it recorded only
    vasprun.xml: custodian's VaspFilesValidator refuses the run (no OUTCAR/CONTCAR), so no
    task document can be built from it, rather than a half-parsed one."""
    replay({"static": {"recorded": str(recorded / "static_smearing")}})
    # KSPACING 0.25 on a metal trips custodian's KspacingMetalHandler (newer than the run).
    job = al_static_maker(profile, without=("KspacingMetalHandler",)).make(al(recorded))
    responses = run_locally(job, create_folders=True, log=False)

    assert job.uuid not in responses or not responses[job.uuid]
    run_dir = _run_dir(in_tmp)
    assert _attempts(run_dir) == 1  # inputs matched, outputs copied, validator said no
    assert (run_dir / "vasprun.xml").is_file() or (run_dir / "vasprun.xml.gz").is_file()
    assert read_corrections(run_dir) == []
