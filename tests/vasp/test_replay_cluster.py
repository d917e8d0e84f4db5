"""A replayed VASP relaxation and static run through the same path as QE: ``submit_flow`` → the
agent (claim → SLURM job running ``python -m htflow.launch.worker`` → ingest) → atomate2
TaskDocs in the JobStore → ``build_materials`` → a materials document with code ``vasp``.

Only VASP is replaced (by the stand-in of the profile's ``vasp_cmd``); atomate2, custodian,
FireWorks, SLURM, the agent and the builder are the real ones. No static of FeO is recorded
(``static_smearing/`` has no OUTCAR/CONTCAR, so emmet cannot build a TaskDoc from it), so the
static step replays ``postprocess/`` too, its INCAR checked on the tags a static shares with
that relaxation.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import pytest
import yaml
from jobflow import Flow

from htflow.agent.loop import Agent, AgentConfig, until_idle
from htflow.builders import build_materials
from htflow.cluster import load_profile
from htflow.cluster.profile import PROFILE_DIR
from htflow.db import get_jobstore, get_launchpad, query
from htflow.launch.worker import attempts
from htflow.submit import submit_flow
from htflow.testing.vasp_replay import REPLAY_ENV
from tests.agent.agent_helpers import agent_environment
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)
from tests.vasp.replay_helpers import feo, feo_relax_maker, feo_static_maker

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.cluster.local_slurm import ClusterStatus

pytestmark = [pytest.mark.slurm, pytest.mark.shared, pytest.mark.filterwarnings("ignore")]

# A static writes these differently from the recorded relaxation: it does not move ions
# (IBRION, ISIF, NSW), uses LREAL False, and starts from the relaxation's moments (MAGMOM).
FEO_STATIC_IGNORE = ["IBRION", "ISIF", "NSW", "LREAL", "MAGMOM"]
# The recorded FeO run's T*S exceeds custodian's (newer) LargeSigmaHandler limit; see
# test_replay_runs.test_large_sigma_is_bounded for that outcome.
NO_SIGMA = ("LargeSigmaHandler",)


def write_vasp_profile(directory: Path) -> Path:
    """``local.yaml`` with the stand-in VASP as ``vasp_cmd``, one rank per calculation."""
    data = yaml.safe_load((PROFILE_DIR / "local.yaml").read_text())
    fake_vasp = f"{sys.executable} -m htflow.testing.fake_vasp"
    data.update(
        name="vasp-replay",
        vasp_cmd=fake_vasp,
        vasp_gamma_cmd=fake_vasp,
        ranks_per_calculation=1,
        tasks_per_node=1,
        max_jobs_in_queue=2,
        # Jobs get an allowlisted environment: the replay manifest is passed by name, as a
        # site passes its licence server (PMG_VASP_PSP_DIR is on the allowlist).
        inherit_environment=[REPLAY_ENV],
    )
    path = directory / "vasp-replay.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def slurm_env(
    local_slurm: ClusterStatus,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> ClusterStatus:
    """The agent's environment: the test SLURM and a test home (as tests/agent do)."""
    for key, value in agent_environment(local_slurm.slurm_conf, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    return local_slurm


def test_relax_static_through_agent_and_slurm(
    slurm_env: ClusterStatus, recorded: Path, fake_psp: Path, replay, tmp_path: Path
) -> None:
    # The replay manifest (the profile's inherit_environment) and the fake POTCARs
    # (PMG_VASP_PSP_DIR, allowlisted) reach the SLURM job from the agent's environment.
    manifest = replay(
        {
            "relax": {"recorded": str(recorded / "postprocess")},
            "static": {
                "recorded": str(recorded / "postprocess"),
                "check": ["incar", "kpoints"],  # the static's POSCAR is the relaxed cell
                "incar_ignore": FEO_STATIC_IGNORE,
            },
        }
    )
    assert fake_psp.is_dir() and manifest.is_file()
    assert os.environ[REPLAY_ENV] == str(manifest)
    profile = load_profile(write_vasp_profile(tmp_path))

    relax = feo_relax_maker(profile, recorded, without=NO_SIGMA).make(feo(recorded))
    static = feo_static_maker(profile, recorded, without=NO_SIGMA).make(
        relax.output.structure, prev_dir=relax.output.dir_name
    )
    db = f"file://{tmp_path}/db"
    lp = get_launchpad(db)
    assert submit_flow(Flow([relax, static], name="FeO relax static"), lp).submitted

    config = AgentConfig(profile=profile, agent_dir=tmp_path / "agent", db_uri=db)
    start = time.monotonic()
    with Agent(config) as agent:
        report = agent.run(
            until=lambda r: until_idle(r) or time.monotonic() - start > 400, poll=0.3
        )
    assert not report.busy
    states = {doc["name"]: doc["state"] for doc in lp.fireworks.find({}, {"name": 1, "state": 1})}
    assert states == {"relax": "COMPLETED", "static": "COMPLETED"}, states
    fws = {doc["name"]: doc for doc in lp.fireworks.find({}, {"name": 1, "spec": 1})}
    assert fws["relax"]["spec"]["htflow_job_type"] == "large"  # routed like a QE relaxation
    assert fws["static"]["spec"]["htflow_job_type"] == "small"

    store = get_jobstore(db)
    store.connect()
    relax_doc = store.get_output(relax.uuid)
    static_doc = store.get_output(static.uuid)
    assert relax_doc["@class"] == "TaskDoc" and static_doc["@class"] == "TaskDoc"
    assert (relax_doc["task_label"], static_doc["task_label"]) == ("relax", "static")
    assert relax_doc["state"] == static_doc["state"] == "successful"
    # the static ran in its own launch directory with the relaxation's outputs copied in
    assert static_doc["dir_name"] != relax_doc["dir_name"]
    assert all("fake_vasp" in " ".join(d["job"]["vasp_cmd"]) for d in relax_doc["custodian"])
    for doc in lp.launches.find({}, {"launch_dir": 1}):
        # each ran inside a SLURM allocation: the worker recorded the job id
        (start_record, *_) = attempts(doc["launch_dir"])
        assert start_record["job_id"], start_record

    report_b = build_materials(db)
    assert report_b.processed == 2 and not report_b.pending
    frame = query(
        {"code": "vasp"},
        ["material_id", "formula_reduced", "code", "protocol", "pseudo_family", "energy_per_atom"],
        db,
    )
    assert list(frame.formula_reduced) == ["FeO"]
    (row,) = frame.itertuples()
    assert row.pseudo_family == "PAW_PBE"
    # The recording used U(Fe) = 4 eV, not MP's 5.3 eV: no htflow protocol wrote it, so the
    # protocol is a custom one inferred from the INCAR (ENCUT, EDIFF per atom, U).
    assert row.protocol.startswith("custom-")
    assert row.energy_per_atom == pytest.approx(static_doc["output"]["energy_per_atom"])
    assert query({"code": "qe"}, ["material_id"], db).empty
