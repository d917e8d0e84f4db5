"""Flows run end to end with real pw.x, dos.x and projwfc.x on silicon (fast protocol)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jobflow import Flow, run_locally
from pymatgen.core import Lattice, Structure

from htflow.qe.demo import relax_static_dos_maker
from htflow.qe.flows import BandStructureMaker, ElasticMaker, EosMaker
from htflow.qe.jobs import NscfMaker, RelaxMaker, StaticMaker
from htflow.qe.sets import PwInputGenerator
from htflow.qe.sets.sampling import load_property_needs

pytestmark = pytest.mark.pw


def silicon(a: float = 5.47) -> Structure:
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def run(flow: Flow, root: Path) -> dict[str, Any]:
    """Run a flow locally; return outputs by job name (last one wins)."""
    cwd = os.getcwd()
    try:
        responses = run_locally(flow, root_dir=root, create_folders=True, ensure_success=True)
    finally:
        os.chdir(cwd)
    outputs = {}
    for uuid, by_index in responses.items():
        response = by_index[max(by_index)]
        outputs[uuid] = response.output
    return outputs


def by_label(outputs: dict[str, Any], label: str) -> list[Any]:
    return [o for o in outputs.values() if getattr(o, "task_label", None) == label]


def test_relax_static_dos(tmp_path: Path) -> None:
    flow = relax_static_dos_maker("fast").make(silicon(5.55))
    outputs = run(flow, tmp_path)
    (relax,) = by_label(outputs, "relax")
    (static,) = by_label(outputs, "static")
    (dos,) = by_label(outputs, "dos")
    assert relax.output.ionic_converged
    # The stretched cell shrinks towards the PBE volume (~20.5 Å^3/atom for these pseudos).
    assert relax.structure.volume / 2 < silicon(5.55).volume / 2
    assert relax.structure.volume / 2 == pytest.approx(20.5, rel=0.03)
    assert static.output.scf_converged
    # the static serves energies: its mesh is raised from the relax's (fast protocol) to an
    # insulator's energy needs, and the raise is on record; the energy moves with the mesh
    sampling = static.input.pw_input.sampling
    assert sampling is not None and sampling.property == "energy"
    assert sampling.electronic_class == "insulator"
    need = load_property_needs("energy").insulator.kpoints_per_atom
    assert sampling.kpoints_per_atom_needed == need <= sampling.kpoints_per_atom
    assert tuple(static.input.pw_input.kpoints.mesh) == sampling.mesh
    assert tuple(relax.input.pw_input.kpoints.mesh) == sampling.protocol_mesh != sampling.mesh
    assert static.output.energy_per_atom == pytest.approx(relax.output.energy_per_atom, abs=0.15)
    assert static.output.band_gap == pytest.approx(0.6, abs=0.25)
    assert static.blas is not None
    complete_dos = dos.dos
    assert {str(orb) for orb in complete_dos.get_spd_dos()} >= {"s", "p"}
    assert len(complete_dos.structure) == 2
    # Eight valence electrons: the DOS integrated up to E_F counts them.
    energies = np.asarray(complete_dos.energies)
    density = np.asarray(complete_dos.get_densities())
    occupied = energies <= complete_dos.efermi + 1e-6
    assert np.trapezoid(density[occupied], energies[occupied]) == pytest.approx(8, abs=0.3)


def test_band_structure(tmp_path: Path) -> None:
    fast = {"protocol": "fast"}
    maker = BandStructureMaker(
        static_maker=StaticMaker(input_set_generator=PwInputGenerator(calculation="scf", **fast)),
        uniform_maker=NscfMaker(
            name="dos", input_set_generator=PwInputGenerator(calculation="nscf", **fast)
        ),
        line_maker=NscfMaker(
            name="bands",
            mode="line",
            input_set_generator=PwInputGenerator(calculation="bands", **fast),
        ),
    )
    outputs = run(maker.make(silicon()), tmp_path)
    (bands,) = by_label(outputs, "bands")
    band_structure = bands.band_structure
    gap = band_structure.get_band_gap()
    assert not gap["direct"]
    assert gap["energy"] == pytest.approx(0.6, abs=0.25)
    assert "\\Gamma" in {k.label for k in band_structure.kpoints if k.label}


def test_eos_birch_murnaghan(tmp_path: Path) -> None:
    maker = EosMaker(
        static_maker=StaticMaker(
            name="eos static",
            input_set_generator=PwInputGenerator(protocol="fast", is_metal=False),
        )
    )
    outputs = run(maker.make(silicon()), tmp_path)
    (eos,) = [o for o in outputs.values() if type(o).__name__ == "EosDoc"]
    assert len(eos.points) == 7
    volumes = [p.volume_per_atom for p in eos.points]
    assert volumes[0] / volumes[3] == pytest.approx(0.94, abs=1e-6)
    assert volumes[-1] / volumes[3] == pytest.approx(1.06, abs=1e-6)
    # ACWF all-electron PBE: V0 = 20.46 Å^3/atom, B0 = 88.5 GPa, B1 = 4.3.
    assert eos.v0 == pytest.approx(20.46, rel=0.02)
    assert eos.b0 == pytest.approx(88.5, rel=0.10)
    assert eos.b1 == pytest.approx(4.3, abs=0.6)


def aluminium(a: float = 4.04) -> Structure:
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lattice, ["Al"], [[0, 0, 0]])


# ~20 pw.x runs at the family's full cutoffs (the elastic floor): on a loaded 2-core machine
# this took 13-22 min, past the suite's 900 s per-test limit (not a timed assertion: a hang
# guard)
@pytest.mark.timeout(2400)
def test_elastic_tensor_of_a_metal(tmp_path: Path) -> None:
    """The issue's fcc Al at the fast protocol: G_VRH was 73 GPa from 6x6x6 strained cells."""
    from htflow.qe.sets.sampling import kpoints_per_atom_of

    maker = ElasticMaker(
        bulk_relax_maker=RelaxMaker(
            input_set_generator=PwInputGenerator(calculation="vc-relax", protocol="fast"),
        ),
        elastic_relax_maker=RelaxMaker(
            name="elastic relax",
            input_set_generator=PwInputGenerator(calculation="relax", protocol="fast"),
        ),
    )
    outputs = run(maker.make(aluminium()), tmp_path)
    needs = load_property_needs("elastic").metal
    cells = [
        o for o in outputs.values() if str(getattr(o, "task_label", "")).startswith("elastic relax")
    ]
    # the bulk relaxed at the protocol's 6x6x6, then again on the cells' denser mesh, both
    # at the protocol's width; the cells and the reference SCF at the metal's elastic width
    (coarse,) = by_label(outputs, "relax")
    (dense,) = by_label(outputs, "elastic bulk relax")
    assert all(
        c < d
        for c, d in zip(
            coarse.input.pw_input.kpoints.mesh, dense.input.pw_input.kpoints.mesh, strict=True
        )
    )
    (reference,) = by_label(outputs, "elastic reference stress")
    assert len(cells) == 6
    assert coarse.output.is_metal
    widths = {t.input.pw_input.system["degauss"] for t in (coarse, dense)}
    assert widths == {PwInputGenerator(protocol="fast").get_input(aluminium()).system["degauss"]}
    meshes = {tuple(c.input.pw_input.kpoints.mesh) for c in [*cells, reference, dense]}
    assert len(meshes) == 1
    assert kpoints_per_atom_of(aluminium(), next(iter(meshes))) >= needs.kpoints_per_atom
    assert {c.input.pw_input.system["degauss"] for c in [*cells, reference]} == {needs.degauss}
    # the elastic cutoff floor (min_cutoff_scale 1.0): the fast protocol's 0.8 x is raised
    # for the cells, the reference SCF and the relaxation they are strained about
    full = PwInputGenerator(protocol="balanced").get_input(aluminium()).system["ecutwfc"]
    fast = PwInputGenerator(protocol="fast").get_input(aluminium()).system["ecutwfc"]
    assert coarse.input.pw_input.system["ecutwfc"] == fast < full
    assert {t.input.pw_input.system["ecutwfc"] for t in [*cells, reference, dense]} == {full}
    (elastic,) = [o for o in outputs.values() if type(o).__name__ == "ElasticDocument"]
    c = np.array(elastic.elastic_tensor.ieee_format)
    # converged PBE (docs/precision.md): C11 110, C12 58, C44 34.5 GPa, G_VRH 31 GPa (SSSP);
    # measured here: 111.6, 62.5, 31.8, G_VRH 28.7 GPa (MP: 23.9; the run: 73.2)
    assert c[0, 0] == pytest.approx(110, rel=0.10)
    assert c[0, 1] == pytest.approx(58, rel=0.15)
    assert c[3, 3] == pytest.approx(34.5, rel=0.15)
    assert elastic.derived_properties.g_vrh == pytest.approx(31, rel=0.15)


def test_elastic_tensor(tmp_path: Path) -> None:
    maker = ElasticMaker(
        bulk_relax_maker=RelaxMaker(
            input_set_generator=PwInputGenerator(calculation="vc-relax", protocol="fast")
        ),
        elastic_relax_maker=RelaxMaker(
            name="elastic relax",
            input_set_generator=PwInputGenerator(calculation="relax", protocol="fast"),
        ),
    )
    outputs = run(maker.make(silicon()), tmp_path)
    (elastic,) = [o for o in outputs.values() if type(o).__name__ == "ElasticDocument"]
    c = np.array(elastic.elastic_tensor.ieee_format)
    c11, c12, c44 = c[0, 0], c[0, 1], c[3, 3]
    # PBE silicon: C11 ≈ 153, C12 ≈ 57, C44 ≈ 75 GPa (relaxed ions).
    assert c11 == pytest.approx(153, rel=0.15)
    assert c12 == pytest.approx(57, rel=0.25)
    assert c44 == pytest.approx(75, rel=0.25)
    props = elastic.derived_properties
    k_vrh = (c11 + 2 * c12) / 3
    g_v = (c11 - c12 + 3 * c44) / 5
    g_r = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    g_vrh = (g_v + g_r) / 2
    assert props.k_vrh == pytest.approx(k_vrh, rel=1e-6)
    assert props.g_vrh == pytest.approx(g_vrh, rel=1e-6)
    poisson = (3 * k_vrh - 2 * g_vrh) / (2 * (3 * k_vrh + g_vrh))
    assert props.homogeneous_poisson == pytest.approx(poisson, rel=1e-6)
