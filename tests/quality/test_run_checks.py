"""Energy, band-gap and DOS checks on task documents as stored (PwTaskDoc and VASP TaskDoc)."""

from __future__ import annotations

from typing import Any

import pytest

from htflow.qe.sets.sampling import load_property_needs
from htflow.quality.band_gap import band_gap_checks
from htflow.quality.dos import dos_checks
from htflow.quality.energy import energy_checks
from htflow.quality.levels import property_quality
from htflow.quality.task_view import task_view
from htflow.quality.tolerances import load_tolerances


def pw_task(
    mesh: tuple[int, int, int] = (12, 12, 12),
    nsites: int = 2,
    calculation: str = "scf",
    **output: Any,
) -> dict[str, Any]:
    """A stored PwTaskDoc of a gapped 2-atom cell with cold smearing (what the checks read)."""
    out = {
        "energy": -262.75, "free_energy": -262.75, "energy_no_smearing": -262.75,
        "efermi": 10.0, "homo": 9.28, "lumo": 11.13, "band_gap": 1.85, "is_metal": False,
        "scf_converged": True, "ionic_converged": None, "n_kpoints": 72,
    }  # fmt: skip
    out.update(output)
    return {
        "@class": "PwTaskDoc",
        "calculation": calculation,
        "input": {
            "pw_input": {
                "system": {"ecutwfc": 45.0, "ecutrho": 360.0, "occupations": "smearing",
                           "smearing": "cold", "degauss": 0.02},
                "electrons": {"conv_thr": 2e-10},
                "kpoints": {"mode": "automatic", "mesh": list(mesh)},
                "symbols": ["Si", "C"][:nsites] + ["Si"] * (nsites - 2),
                "protocol": "balanced",
            }
        },
        "output": out,
    }  # fmt: skip


def names(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def test_energy_settings_and_checks_of_a_good_static() -> None:
    checks, settings = energy_checks(pw_task())
    assert all(c.passed for c in checks)
    assert set(names(checks)) == {"scf_converged", "energy_kpoint_density", "smearing_entropy"}
    assert settings == {
        "calculation": "scf", "kpoints_mesh": "12×12×12", "kpoints_per_atom": 3456,
        "occupations": "smearing", "smearing": "cold", "degauss_ry": 0.02,
        "ecutwfc_ry": 45.0, "ecutrho_ry": 360.0, "conv_thr_ry": 2e-10, "protocol": "balanced",
    }  # fmt: skip


def test_a_coarse_vc_relax_energy_is_suspect_with_the_numbers() -> None:
    metal = load_property_needs("energy").metal
    task = pw_task(mesh=(6, 6, 6), nsites=1, calculation="vc-relax", is_metal=True,
                   band_gap=0.0, homo=None, lumo=None, ionic_converged=True)  # fmt: skip
    quality = property_quality("energy", *energy_checks(task))
    assert quality.level == "suspect"
    expected = (
        f"vc-relax energy from a 6×6×6 mesh (216 k-points/atom), below the "
        f"{metal.kpoints_per_atom} a metal needs for energy"
    )
    assert quality.reasons[0].startswith(expected)
    assert quality.reasons[0].endswith("formation energies and hulls inherit mesh jumps")
    assert quality.settings["kpoints_per_atom"] == 216


def test_unconverged_scf_is_suspect() -> None:
    quality = property_quality("energy", *energy_checks(pw_task(scf_converged=False)))
    assert quality.level == "suspect"
    assert "did not converge" in quality.reasons[0]


def test_efermi_below_the_vbm_of_a_gapped_smeared_run_fails() -> None:
    # SiC on 'fast' in tests/builders: E_F 18 meV below the VBM, -TS 23.7 meV per cell
    task = pw_task(efermi=9.2647, homo=9.2829, free_energy=-262.7526,
                   energy_no_smearing=-262.7644)  # fmt: skip
    found = names(band_gap_checks(task)[0])
    assert not found["efermi_in_gap"].passed
    assert found["efermi_in_gap"].value == pytest.approx(0.0182, abs=1e-4)
    assert "0.0182 eV below the valence band maximum 9.2829 eV" in found["efermi_in_gap"].detail
    assert not found["smearing_entropy"].passed
    assert found["smearing_entropy"].value == pytest.approx(11.8, abs=0.1)  # meV/atom
    # its energy is held to a looser -TS limit, which bounds F(smeared) - E(fixed)
    energy = names(energy_checks(task)[0])["smearing_entropy"]
    assert energy.limit == load_tolerances().energy.smearing_entropy_mev_per_atom
    assert energy.passed is (energy.value <= energy.limit)
    assert "efermi_in_gap" not in names(energy_checks(task)[0])


def test_smearing_contribution_wins_over_the_derived_one() -> None:
    task = pw_task(smearing_contribution=-0.0001, free_energy=-262.0, energy_no_smearing=-263.0)
    assert task_view(task).minus_ts_ev == -0.0001
    check = names(band_gap_checks(task)[0])["smearing_entropy"]
    assert check.passed
    assert check.value == pytest.approx(0.05)
    limit = load_tolerances().band_gap.smearing_entropy_mev_per_atom
    assert check.limit == limit


def test_a_metal_only_needs_a_converged_run() -> None:
    task = pw_task(is_metal=True, band_gap=0.0, homo=None, lumo=None, efermi=8.0)
    checks, _ = band_gap_checks(task)
    assert [c.name for c in checks] == ["scf_converged"]
    assert property_quality("band_gap", checks).level == "checked"


def test_dos_mesh_against_dos_needs() -> None:
    need = load_property_needs("dos").insulator.kpoints_per_atom
    task = pw_task(mesh=(4, 4, 4), calculation="nscf", scf_converged=None)
    task["input"]["pw_input"]["system"] = {"occupations": "tetrahedra_opt"}
    checks, settings = dos_checks(task)
    (density,) = checks
    assert density.value == 128 and density.limit == need
    assert density.passed is (need <= 128)
    assert settings["occupations"] == "tetrahedra_opt"
    # a gap read from that DOS run is held to the same needs, but not to smearing checks
    gap_checks = names(band_gap_checks(task, from_dos=True)[0])
    assert set(gap_checks) == {"dos_kpoint_density"}


def test_vasp_task_reports_what_it_has() -> None:
    task = {
        "@class": "TaskDoc",
        "nsites": 2,
        "task_type": "Static",
        "input": {
            "incar": {"ENCUT": 520, "EDIFF": 1e-6, "ISMEAR": 0, "SIGMA": 0.05},
            "kpoints": {"generation_style": "Gamma", "kpoints": [[8, 8, 8]]},
        },
        "output": {"bandgap": 1.2},
        "calcs_reversed": [
            {"output": {"is_metal": False, "efermi": 5.0, "vbm": 4.9, "cbm": 6.1, "bandgap": 1.2}}
        ],
    }
    checks, settings = energy_checks(task)
    assert settings["kpoints_per_atom"] == 1024
    assert settings["encut_ev"] == 520
    assert {c.name for c in checks} == {"energy_kpoint_density"}  # VASP: no -TS stored
    gap_checks, _ = band_gap_checks(task)
    assert [c.name for c in gap_checks] == ["efermi_in_gap"]
    assert gap_checks[0].passed


def test_a_metals_strained_cells_are_held_to_the_measured_smearing_width() -> None:
    from htflow.quality.elastic import strained_cell_checks

    needs = load_property_needs("elastic").metal
    assert needs.degauss is not None
    mesh = (13, 13, 13)  # 2197 k-points/atom for one site: above the metal's need
    metal = {"is_metal": True, "band_gap": 0.0, "homo": None, "lumo": None}
    right = pw_task(mesh, nsites=1, calculation="relax", **metal)
    right["input"]["pw_input"]["system"]["degauss"] = needs.degauss
    wrong = pw_task(mesh, nsites=1, calculation="relax", **metal)  # the protocol's 0.02 Ry
    good = names(strained_cell_checks([task_view(right)] * 6))
    assert good["elastic_kpoint_density"].passed
    assert good["elastic_smearing_width"].passed
    bad = names(strained_cell_checks([task_view(right)] * 5 + [task_view(wrong)]))
    assert not bad["elastic_smearing_width"].passed
    assert bad["elastic_smearing_width"].value == 0.02
    assert "not known to converge" in bad["elastic_smearing_width"].detail
    assert property_quality("elastic", list(bad.values())).level == "suspect"
    # an insulator's cells have no width to meet
    assert "elastic_smearing_width" not in names(strained_cell_checks([task_view(pw_task())]))
