"""atomate2 VASP flows for campaign candidates, configured from a protocol.

htflow does not define VASP Makers: it configures atomate2's. Exposed, per workflow:

- ``relax_static_dos``: ``RelaxBandStructureMaker`` = ``DoubleRelaxMaker`` (or one
  ``RelaxMaker`` for the fast protocol) → ``UniformBandStructureMaker`` (``StaticMaker`` →
  ``NonSCFMaker`` uniform, the DOS).
- ``band_structure``: the same relaxation → ``LineModeBandStructureMaker`` (``StaticMaker``
  → ``NonSCFMaker`` line).
- ``elastic``: ``ElasticMaker`` (bulk ``DoubleRelaxMaker`` → deformed-cell
  ``ElasticRelaxMaker`` → tensor fit).
- ``eos``: atomate2's VASP ``EosMaker`` (``DoubleRelaxMaker`` → fixed-volume ``RelaxMaker``
  per strained cell → fit).

Every job gets :func:`htflow.vasp.run.vasp_run_kwargs` (the profile's command, fresh handlers,
the allocation walltime handler) and writes ``htflow_job.json`` (job name, workflow, protocol)
into its run directory.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from htflow.exceptions import InputError
from htflow.vasp.potcar import check_potcars
from htflow.vasp.protocol import JobSettings, VaspProtocol, load_protocol
from htflow.vasp.run import vasp_run_kwargs

if TYPE_CHECKING:
    from collections.abc import Callable

    from atomate2.vasp.jobs.base import BaseVaspMaker
    from atomate2.vasp.sets.base import VaspInputGenerator
    from jobflow import Flow, Maker
    from pymatgen.core import Structure

    from htflow.cluster.profile import ClusterProfile

WORKFLOWS = ("relax_static_dos", "band_structure", "elastic", "eos")
JOB_MARKER = "htflow_job.json"


def base_config(protocol: VaspProtocol) -> dict[str, Any]:
    """The generator ``config_dict`` of the protocol's base input set (a fresh copy)."""
    if protocol.input_set == "mp_gga":
        from pymatgen.io.vasp.sets import MPRelaxSet

        return copy.deepcopy(MPRelaxSet.CONFIG)
    from atomate2.vasp.sets.base import _BASE_VASP_SET

    return copy.deepcopy(_BASE_VASP_SET)


def potcar_symbols(protocol: VaspProtocol, structure: Structure) -> tuple[str, list[str]]:
    """The POTCAR functional and symbols the protocol's input set uses for ``structure``."""
    config = base_config(protocol)
    mapping = config.get("POTCAR", {})
    symbols = []
    for element in structure.composition.elements:
        symbol = mapping.get(element.symbol, element.symbol)
        symbols.append(symbol if isinstance(symbol, str) else element.symbol)
    return str(config.get("POTCAR_FUNCTIONAL", "PBE")), symbols


def _generator(
    cls: type[VaspInputGenerator],
    protocol: VaspProtocol,
    settings: JobSettings,
    extra_incar: dict[str, Any] | None = None,
    **fields: Any,
) -> VaspInputGenerator:
    incar = {**(extra_incar or {}), **settings.incar}
    kpoints = dict(settings.kpoints) or None
    kwargs: dict[str, Any] = {"config_dict": base_config(protocol), "user_incar_settings": incar}
    if kpoints is not None:
        kwargs["user_kpoints_settings"] = kpoints
    return cls(**kwargs, **fields)


def vasp_makers(
    protocol: VaspProtocol,
    run_kwargs: Callable[[str], dict[str, Any]],
    workflow: str = "",
    potcar_spec: bool = False,
) -> dict[str, BaseVaspMaker]:
    """atomate2 job Makers configured from ``protocol``, by role.

    Roles: ``relax1``, ``relax2``, ``static``, ``nscf_uniform``, ``nscf_line``,
    ``elastic_relax``, ``eos_relax``. ``run_kwargs(job_type)`` gives each Maker's
    ``run_vasp_kwargs``.
    """
    from atomate2.vasp.jobs.core import NonSCFMaker, RelaxMaker, StaticMaker
    from atomate2.vasp.jobs.elastic import ElasticRelaxMaker
    from atomate2.vasp.sets.core import (
        NonSCFSetGenerator,
        RelaxSetGenerator,
        StaticSetGenerator,
    )

    def configured(maker: BaseVaspMaker, job_type: str) -> BaseVaspMaker:
        maker.run_vasp_kwargs = run_kwargs(job_type)
        marker = {"job_name": maker.name, "workflow": workflow, "protocol": protocol.name}
        maker.write_additional_data = {JOB_MARKER.replace(".", ":"): marker}
        if potcar_spec:
            maker.write_input_set_kwargs = {"potcar_spec": True}
        return maker

    def relax(name: str) -> BaseVaspMaker:
        generator = _generator(RelaxSetGenerator, protocol, protocol.relax)
        return configured(RelaxMaker(name=name, input_set_generator=generator), "relax")

    nscf = protocol.nscf_uniform_density, protocol.nscf_line_density

    def nscf_maker() -> BaseVaspMaker:
        # One maker serves both modes: atomate2's band-structure flows set the mode.
        return configured(
            NonSCFMaker(
                name="non-scf",
                input_set_generator=_generator(
                    NonSCFSetGenerator,
                    protocol,
                    JobSettings(incar=protocol.static.incar),
                    reciprocal_density=nscf[0],
                    line_density=nscf[1],
                ),
            ),
            "nscf",
        )

    elastic_incar = {"IBRION": 2, "ISIF": 2, "NSW": 99, "LREAL": False, "ALGO": "Normal"}
    return {
        # DoubleRelaxMaker appends " 1" and " 2" to the job names.
        "relax1": relax("relax"),
        "relax2": relax("relax"),
        "static": configured(
            StaticMaker(
                name="static",
                input_set_generator=_generator(StaticSetGenerator, protocol, protocol.static),
            ),
            "static",
        ),
        "nscf_uniform": nscf_maker(),
        "nscf_line": nscf_maker(),
        "elastic_relax": configured(
            ElasticRelaxMaker(
                input_set_generator=_generator(
                    StaticSetGenerator, protocol, protocol.elastic, extra_incar=elastic_incar
                )
            ),
            "relax",
        ),
        "eos_relax": configured(
            RelaxMaker(
                name="EOS fixed-volume relax",
                input_set_generator=_generator(
                    RelaxSetGenerator, protocol, protocol.relax, extra_incar={"ISIF": 2}
                ),
            ),
            "relax",
        ),
    }


def _relaxation(protocol: VaspProtocol, makers: dict[str, BaseVaspMaker]) -> Maker:
    from atomate2.vasp.flows.core import DoubleRelaxMaker

    if protocol.double_relax:
        return DoubleRelaxMaker(relax_maker1=makers["relax1"], relax_maker2=makers["relax2"])
    return makers["relax2"]


def build_flow(
    structure: Structure,
    workflow: str,
    protocol: VaspProtocol,
    run_kwargs: Callable[[str], dict[str, Any]],
    potcar_spec: bool = False,
) -> Flow:
    """The atomate2 flow for ``workflow`` with explicit run settings (no POTCAR check)."""
    from atomate2.vasp.flows.core import (
        LineModeBandStructureMaker,
        RelaxBandStructureMaker,
        UniformBandStructureMaker,
    )
    from atomate2.vasp.flows.elastic import ElasticMaker
    from atomate2.vasp.flows.eos import EosMaker

    if workflow not in WORKFLOWS:
        raise InputError(f"unknown VASP workflow {workflow!r}: use one of {', '.join(WORKFLOWS)}")
    makers = vasp_makers(protocol, run_kwargs, workflow=workflow, potcar_spec=potcar_spec)
    # atomate2 annotates these fields as BaseVaspMaker although its own defaults are flow
    # Makers (DoubleRelaxMaker, BandStructureMaker): Any keeps mypy out of that mismatch.
    relax: Any = _relaxation(protocol, makers)
    band_structure: Any
    maker: Maker
    if workflow == "relax_static_dos":
        band_structure = UniformBandStructureMaker(
            static_maker=makers["static"], bs_maker=makers["nscf_uniform"]
        )
        maker = RelaxBandStructureMaker(
            name="relax static dos", relax_maker=relax, band_structure_maker=band_structure
        )
    elif workflow == "band_structure":
        band_structure = LineModeBandStructureMaker(
            static_maker=makers["static"], bs_maker=makers["nscf_line"]
        )
        maker = RelaxBandStructureMaker(relax_maker=relax, band_structure_maker=band_structure)
    elif workflow == "elastic":
        maker = ElasticMaker(bulk_relax_maker=relax, elastic_relax_maker=makers["elastic_relax"])
    else:
        maker = EosMaker(
            initial_relax_maker=relax,
            eos_relax_maker=makers["eos_relax"],
            number_of_frames=protocol.eos.number_of_frames,
            linear_strain=protocol.eos.linear_strain,
        )
    flow = maker.make(structure)
    flow.name = f"vasp {workflow} ({protocol.name}) {structure.reduced_formula}"
    # The builder reads the code and protocol of a task from its job's metadata (stored with
    # the output); dynamic=True also tags the jobs elastic and EOS add at run time.
    flow.update_metadata(
        {"code": "vasp", "protocol": protocol.name, "workflow": workflow}, dynamic=True
    )
    return flow


def vasp_flow(
    structure: Structure,
    workflow: str,
    protocol: str = "balanced",
    profile: ClusterProfile | str | None = None,
    potcar_spec: bool = False,
) -> Flow:
    """The atomate2 VASP flow a campaign with ``code: vasp`` submits for one candidate.

    Parameters
    ----------
    structure
        The candidate structure (site property ``magmom`` is honoured, in μB).
    workflow
        One of ``relax_static_dos``, ``band_structure``, ``elastic``, ``eos``.
    protocol
        ``fast``, ``balanced`` or ``stringent`` (``htflow/vasp/protocols/``).
    profile
        Cluster profile giving the VASP command, or its name or YAML path (a campaign's
        ``cluster`` key); default: the ``cluster_profile`` setting.
    potcar_spec
        Write ``POTCAR.spec`` instead of POTCARs and skip the POTCAR check (tests only).

    Raises
    ------
    InputError
        Unknown workflow or protocol, no ``vasp_cmd`` in the profile, or POTCARs that
        cannot be found: all before anything is submitted.
    """
    if workflow not in WORKFLOWS:
        raise InputError(f"unknown VASP workflow {workflow!r}: use one of {', '.join(WORKFLOWS)}")
    settings = load_protocol(protocol)
    if not potcar_spec:
        check_potcars(*potcar_symbols(settings, structure))
    if profile is None or isinstance(profile, str):
        from htflow.cluster.profile import load_profile

        profile = load_profile(profile)
    resolved = profile
    vasp_run_kwargs(resolved)  # fail now, not on the compute node, if there is no vasp_cmd

    def run_kwargs(job_type: str) -> dict[str, Any]:
        return vasp_run_kwargs(resolved, job_type=job_type, max_errors=settings.max_errors)

    return build_flow(structure, workflow, settings, run_kwargs, potcar_spec=potcar_spec)


def describe_vasp_flow(
    structure: Structure, workflow: str, protocol: str = "balanced"
) -> list[str]:
    """One line per atomate2 job the flow creates at submission: ``name (Maker)``.

    Jobs that atomate2 adds at run time (the elastic deformations, the EOS strained cells)
    are summarized by the job that creates them. Needs neither POTCARs nor a VASP command.
    """
    settings = load_protocol(protocol)
    flow = build_flow(structure, workflow, settings, lambda _job_type: {}, potcar_spec=True)
    lines = []
    for job, _parents in flow.iterflow():
        maker = getattr(job.function, "__self__", None)
        kind = type(maker).__name__ if maker is not None else job.function.__name__
        lines.append(f"{job.name} ({kind})")
    return lines
