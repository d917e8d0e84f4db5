"""Makers configured like the recorded runs: htflow's protocol Makers with the test-only
INCAR and k-point updates that the recordings legitimately differ by (as atomate2's tests do)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymatgen.io.vasp import Kpoints, Poscar

from htflow.vasp.flows import vasp_makers
from htflow.vasp.protocol import load_protocol
from htflow.vasp.run import vasp_run_kwargs

if TYPE_CHECKING:
    from pathlib import Path

    from atomate2.vasp.jobs.base import BaseVaspMaker
    from pymatgen.core import Structure

    from htflow.cluster.profile import ClusterProfile


def makers(
    profile: ClusterProfile, max_errors: int = 5, without: tuple[str, ...] = ()
) -> dict[str, BaseVaspMaker]:
    """htflow's balanced-protocol Makers running the stand-in VASP of ``profile``.

    ``without`` names handlers left out; custodian polls the stand-in every 0.2 s (not 10 s).
    """

    def run_kwargs(job_type: str) -> dict[str, Any]:
        kwargs = vasp_run_kwargs(profile, job_type=job_type, max_errors=max_errors)
        kwargs["handlers"] = [h for h in kwargs["handlers"] if type(h).__name__ not in without]
        kwargs["custodian_kwargs"] = {"polling_time_step": 0.2}
        return kwargs

    return vasp_makers(load_protocol("balanced"), run_kwargs, workflow="test")


def feo(recorded: Path) -> Structure:
    """postprocess/: antiferromagnetic FeO (GGA+U), as its INCAR's MAGMOM orders the spins."""
    structure = Poscar.from_file(recorded / "postprocess" / "POSCAR").structure
    structure.add_site_property("magmom", [5, -5, 0.6, 0.6])
    return structure


def feo_relax_maker(profile: ClusterProfile, recorded: Path, **kwargs: Any) -> BaseVaspMaker:
    """The relax Maker writing postprocess/'s inputs: that run used U(Fe)=4 eV (MP now uses
    5.3), Gaussian smearing of 0.05 eV and the Γ point only."""
    maker = makers(profile, **kwargs)["relax2"]
    maker.name = "relax"
    generator = maker.input_set_generator
    generator.user_incar_settings.update({"LDAUU": {"Fe": 4.0, "O": 0}, "SIGMA": 0.05})
    generator.user_kpoints_settings = Kpoints.gamma_automatic((1, 1, 1))
    return maker


def al(recorded: Path) -> Structure:
    """static_smearing/: fcc Al, one atom."""
    return Poscar.from_file(recorded / "static_smearing" / "POSCAR").structure


def al_static_maker(profile: ClusterProfile, without: tuple[str, ...] = ()) -> BaseVaspMaker:
    """The static Maker writing static_smearing/'s inputs: an r2SCAN static with KSPACING,
    tetrahedron smearing and the ELF/charge outputs that run asked for."""
    maker = makers(profile, without=without)["static"]
    generator = maker.input_set_generator
    generator.user_incar_settings.update(
        {
            "ALGO": "All",
            "EDIFF": 1e-5,
            "EDIFFG": -0.02,
            "ENAUG": 1360,
            "ENCUT": 680,
            "ISIF": 3,
            "KSPACING": 0.25,
            "LAECHG": True,
            "LELF": True,
            "LMIXTAU": True,
            "LVTOT": True,
            "METAGGA": "R2scan",
            "NELM": 200,
            "LDAU": False,
            "IBRION": 2,
            "LREAL": "Auto",
            "SIGMA": 0.05,
        }
    )
    generator.user_kpoints_settings = {}
    generator.user_potcar_functional = "PBE"
    return maker


def nafenio(recorded: Path) -> Structure:
    """unconverged/: Na2FeNiO4, high-spin Fe only, as its INCAR's MAGMOM has it."""
    structure = Poscar.from_file(recorded / "unconverged" / "POSCAR").structure
    structure.add_site_property("magmom", [0.6, 0.6, 5.0] + [0.6] * 5)
    return structure


def nafenio_relax_maker(profile: ClusterProfile, max_errors: int) -> BaseVaspMaker:
    """The relax Maker writing unconverged/'s inputs: U(Fe)=4, U(Ni)=6 eV, 8x8x8 Monkhorst-Pack,
    Gaussian smearing of 0.05 eV and the mixing that run had already been switched to."""
    maker = makers(profile, max_errors=max_errors)["relax2"]
    maker.name = "relax"
    generator = maker.input_set_generator
    generator.user_incar_settings.update(
        {
            "LDAUU": {"Fe": 4.0, "Ni": 6, "Na": 0, "O": 0},
            "SIGMA": 0.05,
            "ALGO": "Normal",
            "EDIFF": 4e-4,
            "IBRION": 1,
        }
    )
    generator.user_kpoints_settings = Kpoints.monkhorst_automatic((8, 8, 8))
    return maker


def feo_static_maker(profile: ClusterProfile, recorded: Path, **kwargs: Any) -> BaseVaspMaker:
    """The static Maker with postprocess/'s settings (U(Fe)=4 eV, SIGMA 0.05, Γ only).

    No static of FeO is recorded, so the static step replays postprocess/ too: its INCAR is
    checked on the tags a static shares with that relaxation (see ``FEO_STATIC_IGNORE``)."""
    maker = makers(profile, **kwargs)["static"]
    generator = maker.input_set_generator
    generator.user_incar_settings.update({"LDAUU": {"Fe": 4.0, "O": 0}, "SIGMA": 0.05})
    generator.user_kpoints_settings = Kpoints.gamma_automatic((1, 1, 1))
    return maker
