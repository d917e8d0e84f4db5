"""Job Makers for pw.x: static, relax / vc-relax, and non-SCF (DOS on a uniform grid, bands).

Every job follows the atomate2 pipeline: copy what the previous run left → write the
input set → run under Custodian (:func:`htflow.qe.run.run_pw`) → build the task document.
A new job type is a one-field subclass: a ``name`` and an ``input_set_generator``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from jobflow import Maker, job

from htflow.exceptions import CalculationFailedError
from htflow.qe.files import copy_previous_outputs, remove_wavefunctions
from htflow.qe.outputs import build_task_doc
from htflow.qe.restart import input_for_run
from htflow.qe.run import run_pw
from htflow.qe.schemas import PwTaskDoc
from htflow.qe.sets import PwInputGenerator

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymatgen.core import Structure

    from htflow.qe.pwinput import PwInput

# Large objects go to the JobStore's data store, never into the task document itself. They
# are named by field, not by class: classes would be written into every job's FW.json, and
# decoding it would import pymatgen's DOS and band-structure modules in every worker.
DATA_OBJECTS = ["dos", "band_structure"]
M = TypeVar("M", bound="BasePwMaker")


def pw_job(method: Callable[..., Any]) -> Any:
    """Decorate ``make`` of pw.x job Makers: data-store routing and the output schema."""
    return job(method, data=DATA_OBJECTS, output_schema=PwTaskDoc)


@dataclass
class BasePwMaker(Maker):
    """Run pw.x once on a structure.

    Parameters
    ----------
    name
        Job name; also the task label in the task document.
    input_set_generator
        Turns the structure into a :class:`~htflow.qe.pwinput.PwInput`.
    copy_previous
        Copy ``out/`` (charge density, wavefunctions) from ``prev_dir`` before running.
    keep_wavefunctions
        Keep the ``wfc*.dat`` files after the run (needed by a later non-SCF run).
    run_pw_kwargs
        Passed to :func:`htflow.qe.run.run_pw` (``n_ranks``, ``max_corrections``).
    """

    name: str = "pw"
    input_set_generator: PwInputGenerator = field(default_factory=PwInputGenerator)
    copy_previous: bool = False
    keep_wavefunctions: bool = False
    run_pw_kwargs: dict[str, Any] = field(default_factory=dict)

    @pw_job
    def make(
        self,
        structure: Structure,
        prev_dir: str | Path | None = None,
        is_metal: bool | None = None,
    ) -> PwTaskDoc:
        """Run pw.x in the job's directory and return its task document.

        ``is_metal`` (from an earlier run of the flow) picks a metal's or an insulator's
        needs when the input generator serves a property (``for_property``).
        """
        maker = self
        if is_metal is not None and self.input_set_generator.for_property is not None:
            maker = serving(self, self.input_set_generator.for_property, is_metal)
        directory = Path.cwd()
        if maker.copy_previous:
            if prev_dir is None:
                raise CalculationFailedError(f"{maker.name} needs prev_dir: the SCF it continues")
            copy_previous_outputs(prev_dir, directory)
        # A requeued job keeps the input its walltime handler prepared for a restart.
        pw_input = input_for_run(directory, maker.get_input(structure))
        summary = run_pw(directory, **maker.run_pw_kwargs)
        extra = maker.post_process(directory, pw_input)
        doc = build_task_doc(
            directory,
            task_label=maker.name,
            blas=summary["blas"],
            **extra,
        )
        if not maker.keep_wavefunctions:
            remove_wavefunctions(directory)
        if doc.state != "successful":
            raise CalculationFailedError(f"{maker.name} in {directory} did not finish successfully")
        return doc

    def get_input(self, structure: Structure) -> PwInput:
        """The pw.x input this Maker writes for ``structure``."""
        return self.input_set_generator.get_input(structure)

    def post_process(self, directory: Path, pw_input: PwInput) -> dict[str, Any]:
        """Extra work after pw.x (e.g. dos.x); returns extra task-document fields."""
        return {}


@dataclass
class StaticMaker(BasePwMaker):
    """A single-point SCF: energy, forces, stress, Fermi level and gap."""

    name: str = "static"
    input_set_generator: PwInputGenerator = field(
        default_factory=lambda: PwInputGenerator(calculation="scf")
    )
    keep_wavefunctions: bool = True


@dataclass
class RelaxMaker(BasePwMaker):
    """Relax ions (``relax``) or ions and cell (``vc-relax``, the default)."""

    name: str = "relax"
    input_set_generator: PwInputGenerator = field(
        default_factory=lambda: PwInputGenerator(calculation="vc-relax")
    )


@dataclass
class NscfMaker(BasePwMaker):
    """Non-SCF run from a previous SCF charge density.

    ``mode="uniform"`` runs on a dense uniform grid, then dos.x and projwfc.x, and
    stores the total and projected DOS; ``mode="line"`` runs along the high-symmetry
    path and stores the band structure.
    """

    name: str = "nscf"
    mode: Literal["uniform", "line"] = "uniform"
    input_set_generator: PwInputGenerator = field(
        default_factory=lambda: PwInputGenerator(calculation="nscf")
    )
    copy_previous: bool = True

    def get_input(self, structure: Structure) -> PwInput:
        """The nscf (uniform) or bands (line) input for ``structure``."""
        calculation: Literal["bands", "nscf"] = "bands" if self.mode == "line" else "nscf"
        generator = self.input_set_generator
        if generator.calculation != calculation:
            generator = replace(generator, calculation=calculation)
        return generator.get_input(structure)

    def post_process(self, directory: Path, pw_input: PwInput) -> dict[str, Any]:
        """Run dos.x and projwfc.x (uniform) or read the bands (line)."""
        from htflow.qe.postprocess import band_structure_fields, dos_fields

        if self.mode == "line":
            return band_structure_fields(directory, pw_input)
        return dos_fields(directory, pw_input)


def serving(maker: M, property_name: str, is_metal: bool | None = None) -> M:
    """A copy of ``maker`` whose inputs are raised to what ``property_name`` needs.

    See :mod:`htflow.qe.sets.sampling`. ``is_metal`` None keeps what the maker's generator
    says (None there too: a metal's needs).
    """
    known = maker.input_set_generator.is_metal if is_metal is None else is_metal
    generator = replace(maker.input_set_generator, for_property=property_name, is_metal=known)
    return replace(maker, input_set_generator=generator)


def with_mesh_of(maker: M, structure: Structure) -> M:
    """A copy of ``maker`` whose k-point mesh is fixed to the one it picks for ``structure``."""
    mesh = maker.get_input(structure).kpoints.mesh
    generator = replace(maker.input_set_generator, kpoints_mesh=mesh)
    return replace(maker, input_set_generator=generator)
