"""A real QE flow (static SCF → non-SCF DOS on Si, fast protocol) run offline with no database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from jobflow import Flow
from pymatgen.core import Lattice, Structure
from pymatgen.electronic_structure.dos import CompleteDos

from htflow.agent.offline import claim, ingest
from htflow.qe.jobs import NscfMaker, StaticMaker
from htflow.qe.sets import PwInputGenerator
from htflow.submit import submit_flow
from tests.agent.conftest import SECRET_WORDS, run_worker

if TYPE_CHECKING:
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import JobStore

pytestmark = pytest.mark.pw


def silicon(a: float = 5.47) -> Structure:
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def test_static_then_dos_offline(
    launchpad: LaunchPad, jobstore: JobStore, tmp_path: Path, db_uri: str, agent_env: None
) -> None:
    static = StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", protocol="fast"))
    dos = NscfMaker(
        name="dos", input_set_generator=PwInputGenerator(calculation="nscf", protocol="fast")
    )
    scf_job = static.make(silicon())
    dos_job = dos.make(scf_job.output.structure, prev_dir=scf_job.output.dir_name)
    result = submit_flow(Flow([scf_job, dos_job], name="si static dos"), launchpad)
    assert result.submitted

    (launch,) = claim(launchpad, 4, tmp_path / "launches", jobstore=jobstore)
    assert launch.name == "static"
    run_worker(tmp_path, launch.launch_dir)
    assert (launch.launch_dir / "out" / "pwscf.save").is_dir()
    assert ingest(launchpad, jobstore, launch.launch_dir).state == "COMPLETED"
    scf_doc = jobstore.get_output(scf_job.uuid)
    assert scf_doc["output"]["scf_converged"]

    (launch,) = claim(launchpad, 4, tmp_path / "launches", jobstore=jobstore)
    assert launch.name == "dos"
    run_worker(tmp_path, launch.launch_dir)
    done = ingest(launchpad, jobstore, launch.launch_dir)
    assert (done.state, done.outputs) == ("COMPLETED", 1)
    assert not claim(launchpad, 4, tmp_path / "launches", jobstore=jobstore)

    for fw_id in result.fw_ids.values():
        fw = launchpad.get_fw_by_id(fw_id)
        assert (fw.state, len(fw.launches)) == ("COMPLETED", 1)
    # The DOS went to the data store and loads back from the agent's JobStore.
    assert jobstore.additional_stores["data"].count({"job_uuid": dos_job.uuid}) >= 1
    dos_doc = jobstore.get_output(dos_job.uuid, load=True)
    complete_dos = CompleteDos.from_dict(dos_doc["dos"])
    assert len(complete_dos.structure) == 2
    assert complete_dos.efermi == pytest.approx(dos_doc["output"]["efermi"], abs=2.0)

    forbidden = (*SECRET_WORDS, db_uri.removeprefix("file://"))
    for path in (tmp_path / "launches").rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            text = path.read_bytes().decode(errors="replace")
            for word in forbidden:
                assert word not in text, f"{word!r} leaked into {path}"
