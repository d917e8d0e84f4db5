"""Candidates × workflows → jobflow Flows, one Flow per (candidate, workflow).

One Flow per workflow keeps duplicate detection useful: adding ``elastic`` to a campaign
whose ``relax_static_dos`` already ran adds only the elastic flows. Every workflow starts
with the same relaxation (EOS and elastic need the relaxed volume), so the starting
structure of a prototype only has to be close; submission runs it once per material and
points the other flows at it (``htflow.submit.reuse``).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from htflow.exceptions import InputError
from htflow.launch.spec import CAMPAIGN_KEY, PRIORITY_KEY

if TYPE_CHECKING:
    from collections.abc import Callable

    from jobflow import Flow
    from pymatgen.core import Structure

    from htflow.campaign.candidate import Candidate
    from htflow.campaign.spec import CampaignSpec, WorkflowStep


@dataclass
class PlannedFlow:
    """One workflow on one candidate.

    Attributes
    ----------
    candidate
        The candidate.
    workflow
        ``relax_static_dos``, ``band_structure``, ``elastic`` or ``eos``.
    flow
        The jobflow Flow, with the campaign name and priority in every job's manager config.
    """

    candidate: Candidate
    workflow: str
    flow: Flow


def crystal_system(structure: Structure) -> str:
    """The crystal system (``cubic``, ``hexagonal`` …) at pymatgen's default tolerance."""
    return str(SpacegroupAnalyzer(structure).get_crystal_system())


def selected_workflows(steps: list[WorkflowStep], system: str) -> list[str]:
    """Workflows of ``steps`` that apply to a candidate of crystal system ``system``."""
    return [s.name for s in steps if s.crystal_systems is None or system in s.crystal_systems]


def build_flows(candidates: list[Candidate], spec: CampaignSpec) -> list[PlannedFlow]:
    """The Flows of the campaign, in candidate order then workflow order.

    VASP flows take their command from the campaign's cluster profile (``spec.cluster``).

    Raises
    ------
    InputError
        ``code: vasp`` while the VASP layer is not installed.
    """
    planned = []
    for candidate in candidates:
        system = crystal_system(candidate.structure)
        for name in selected_workflows(spec.workflow, system):
            if spec.strict and spec.code == "qe":
                from htflow.qe.workflows import check_protocol_meets_needs

                try:
                    check_protocol_meets_needs(
                        candidate.structure, name, spec.protocol, spec.pseudo_family
                    )
                except InputError as exc:
                    raise InputError(f"{spec.name}: {name} of {candidate.formula}: {exc}") from None
            flow = workflow_flow(
                candidate.structure,
                name,
                spec.protocol,
                spec.code,
                spec.pseudo_family,
                cluster=spec.cluster,
            )
            flow.name = f"{spec.name} {candidate.formula} {name}"
            config: dict[str, Any] = {CAMPAIGN_KEY: spec.name, PRIORITY_KEY: spec.priority}
            flow.update_config({"manager_config": config})
            planned.append(PlannedFlow(candidate, name, flow))
    return planned


@dataclass(frozen=True)
class FlowRequest:
    """One named workflow on one structure, with the campaign settings its code may use.

    ``cluster`` names the cluster profile (or its YAML path) VASP takes its command from.
    """

    structure: Structure
    workflow: str
    protocol: str
    pseudo_family: str | None = None
    cluster: str | None = None


def workflow_flow(
    structure: Structure,
    workflow: str,
    protocol: str,
    code: str = "qe",
    pseudo_family: str | None = None,
    *,
    cluster: str | None = None,
) -> Flow:
    """The Flow of one named workflow on ``structure`` by ``code`` (a key of :data:`FLOW_BUILDERS`).

    The other arguments are those of :class:`FlowRequest`.
    """
    builder = FLOW_BUILDERS.get(code)
    if builder is None:
        raise InputError(f"unknown code {code!r}: use one of {', '.join(FLOW_BUILDERS)}")
    return builder(FlowRequest(structure, workflow, protocol, pseudo_family, cluster))


def _qe_flow(request: FlowRequest) -> Flow:
    from htflow.qe.workflows import qe_flow

    return qe_flow(request.structure, request.workflow, request.protocol, request.pseudo_family)


def _vasp_flow(request: FlowRequest) -> Flow:
    if importlib.util.find_spec("htflow.vasp") is None:
        raise InputError("code: vasp is not available yet in this htflow: use code: qe")
    vasp: Any = importlib.import_module("htflow.vasp")
    flow: Flow = vasp.vasp_flow(
        request.structure, request.workflow, request.protocol, profile=request.cluster
    )
    return flow


# code → its flow builder: the one place a campaign's ``code`` is dispatched on
FLOW_BUILDERS: dict[str, Callable[[FlowRequest], Flow]] = {"qe": _qe_flow, "vasp": _vasp_flow}
