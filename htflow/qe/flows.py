"""Flow Makers composing the pw.x job Makers.

``ElasticMaker`` builds on atomate2's code-agnostic elastic flow (strain set, symmetry
reduction, fit). ``EosMaker`` is htflow's own: atomate2's ``CommonEosMaker`` spaces its
points evenly in *linear* strain, while the ACWF verification protocol needs volumes at
exactly 0.94, 0.96, …, 1.06 × V.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atomate2.common.flows.elastic import BaseElasticMaker
from jobflow import Flow, Maker

from htflow.qe.eos import fit_eos, run_volume_points
from htflow.qe.jobs import (
    BasePwMaker,
    NscfMaker,
    RelaxMaker,
    StaticMaker,
    pw_job,
    serving,
    with_mesh_of,
)
from htflow.qe.sets import PwInputGenerator

if TYPE_CHECKING:
    from pymatgen.core import Structure

DEFAULT_VOLUME_SCALES = (0.94, 0.96, 0.98, 1.00, 1.02, 1.04, 1.06)


@dataclass
class RelaxStaticDosMaker(Maker):
    """vc-relax → static SCF → non-SCF on a dense grid with dos.x and projwfc.x."""

    name: str = "relax static dos"
    relax_maker: BasePwMaker | None = field(default_factory=RelaxMaker)
    static_maker: BasePwMaker = field(default_factory=StaticMaker)
    dos_maker: BasePwMaker = field(default_factory=lambda: NscfMaker(name="dos", mode="uniform"))

    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Flow:
        """Flow whose output holds the three task documents (``relax``, ``static``, ``dos``)."""
        jobs = []
        output = {}
        is_metal = None
        if self.relax_maker is not None:
            relax = self.relax_maker.make(structure, prev_dir=prev_dir)
            jobs.append(relax)
            output["relax"] = relax.output
            structure = relax.output.structure
            is_metal = relax.output.output.is_metal
        static = serving(self.static_maker, "energy").make(structure, is_metal=is_metal)
        dos = serving(self.dos_maker, "dos").make(
            static.output.structure,
            prev_dir=static.output.dir_name,
            is_metal=static.output.output.is_metal,
        )
        jobs += [static, dos]
        output.update({"static": static.output, "dos": dos.output})
        return Flow(jobs, output=output, name=self.name)


@dataclass
class BandStructureMaker(Maker):
    """static SCF → uniform non-SCF (DOS) and line-mode bands along the high-symmetry path."""

    name: str = "band structure"
    static_maker: BasePwMaker = field(default_factory=StaticMaker)
    uniform_maker: BasePwMaker = field(default_factory=lambda: NscfMaker(name="dos"))
    line_maker: BasePwMaker = field(default_factory=lambda: NscfMaker(name="bands", mode="line"))

    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Flow:
        """Flow whose output holds ``static``, ``dos`` and ``bands`` task documents."""
        static = serving(self.static_maker, "energy").make(structure, prev_dir=prev_dir)
        final = static.output.structure
        uniform = serving(self.uniform_maker, "dos").make(
            final, prev_dir=static.output.dir_name, is_metal=static.output.output.is_metal
        )
        line = self.line_maker.make(final, prev_dir=static.output.dir_name)
        output = {"static": static.output, "dos": uniform.output, "bands": line.output}
        return Flow([static, uniform, line], output=output, name=self.name)


@dataclass
class EosMaker(Maker):
    """Energy at fixed volumes around V, fitted to a Birch–Murnaghan equation of state.

    Parameters
    ----------
    relax_maker
        Optional relaxation first (vc-relax); the volumes then scale the relaxed cell.
    static_maker
        The fixed-volume calculation (an SCF; use a ``relax`` RelaxMaker for internal
        coordinates in low-symmetry cells).
    volume_scales
        Volumes as fractions of the starting (or relaxed) volume.
    """

    name: str = "eos"
    relax_maker: BasePwMaker | None = None
    static_maker: BasePwMaker = field(default_factory=lambda: StaticMaker(name="eos static"))
    volume_scales: tuple[float, ...] = DEFAULT_VOLUME_SCALES

    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Flow:
        """Flow whose output is an :class:`~htflow.qe.eos.EosDoc`."""
        jobs = []
        is_metal = None
        if self.relax_maker is not None:
            relax = self.relax_maker.make(structure, prev_dir=prev_dir)
            jobs.append(relax)
            structure = relax.output.structure
            is_metal = relax.output.output.is_metal
        static = serving(self.static_maker, "eos")
        points = run_volume_points(structure, list(self.volume_scales), static, is_metal)
        fit = fit_eos(points.output, name=self.name)
        jobs += [points, fit]
        return Flow(jobs, output=fit.output, name=self.name)


def _elastic_relax_maker() -> RelaxMaker:
    return RelaxMaker(
        name="elastic relax",
        input_set_generator=PwInputGenerator(calculation="relax"),
    )


@dataclass
class ElasticMaker(BaseElasticMaker):
    """Elastic tensor from symmetry-reduced strained cells (atomate2's strain set and fit).

    Each strained cell relaxes its ions at fixed cell; stresses are fitted to the full
    elastic tensor with pymatgen. Outputs C_ij (GPa, Voigt), K_VRH, G_VRH and the
    Poisson ratio in atomate2's ``ElasticDocument``.
    """

    name: str = "elastic"
    # the vc-relax every workflow starts with (htflow.qe.workflows.starting_relax)
    bulk_relax_maker: BasePwMaker | None = field(default_factory=RelaxMaker)  # type: ignore[assignment]
    elastic_relax_maker: BasePwMaker = field(default_factory=_elastic_relax_maker)  # type: ignore[assignment]

    def make(
        self,
        structure: Structure,
        prev_dir: str | Path | None = None,
        equilibrium_stress: Any = None,
        conventional: bool = False,
    ) -> Flow:
        """Relax the bulk (optional), then strain, run and fit.

        The strained cells get the k-point density elastic constants need (a metal's or an
        insulator's, from the bulk's band gap; see :mod:`htflow.qe.elastic_sampling`).
        Without a bulk relaxation, the class is the elastic maker's ``is_metal`` (None: a
        metal's needs).
        """
        from htflow.qe.elastic_sampling import elastic_sampling

        cells = serving(self.elastic_relax_maker, "elastic")
        if self.bulk_relax_maker is None:
            fixed = replace(self, elastic_relax_maker=with_mesh_of(cells, structure))
            return BaseElasticMaker.make(
                fixed,
                structure,
                prev_dir,
                equilibrium_stress=equilibrium_stress,
                conventional=conventional,
            )
        bulk = self.bulk_relax_maker.make(structure, prev_dir=prev_dir)
        sampled = elastic_sampling(
            bulk.output.structure,
            bulk.output.output.is_metal,
            bulk.output.input.pw_input.kpoints.mesh,
            bulk.output.output.stress,
            bulk.output.input.pw_input.system,
            relax_maker=self.bulk_relax_maker,
            elastic_maker=cells,
        )
        inner = replace(self, bulk_relax_maker=None, elastic_relax_maker=sampled.output["maker"])  # type: ignore[arg-type]
        deformations = BaseElasticMaker.make(
            inner,
            sampled.output["structure"],  # type: ignore[arg-type]  # resolved at run time
            equilibrium_stress=sampled.output["stress"],  # type: ignore[arg-type]  # resolved at run time
            conventional=conventional,
        )
        jobs = [bulk, sampled, deformations]
        return Flow(jobs, output=deformations.output, name=self.name)

    @property
    def prev_calc_dir_argname(self) -> None:  # type: ignore[override]
        """Strained cells start from scratch: a copied charge density would not fit them."""
        return None

    @property
    def stress_sign_correction(self) -> float:
        """pw.x stress (GPa, positive = compressive) to atomate2's VASP-kbar convention."""
        return 10.0


__all__ = [
    "BandStructureMaker",
    "ElasticMaker",
    "EosMaker",
    "RelaxStaticDosMaker",
    "pw_job",
]
