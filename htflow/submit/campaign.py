"""Submit a planned campaign all-or-nothing, or hand it to the running agent.

The campaign layer only plans (:func:`htflow.campaign.plan.plan_campaign`); the caller hands
the plan here. The agent is the one writer. When no agent runs, the submitting process takes
the writer lock, adds every flow, and on any failure deletes the Fireworks it added before
re-raising, so the database holds all of the campaign or none of it. When an agent holds
the lock, the flows go into the agent's inbox (``<agent dir>/inbox/``, see
:mod:`htflow.submit.inbox`) and the agent submits them at its next pass, with the same
duplicate checks; every flow is serialized before the first inbox file is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from monty.json import jsanitize

from htflow.db import WriterLockError, get_launchpad, writer_lock
from htflow.exceptions import HtflowError, InputError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from fireworks import LaunchPad
    from jobflow import Flow

    from htflow.cluster.profile import ClusterProfile

logger = logging.getLogger(__name__)
JOB_TYPES = ("small", "large")


# What submission reads of a plan (htflow.campaign.plan.CampaignPlan), as protocols: the
# campaign layer plans against submit's duplicate rules, so submit does not import it back.
class _Dedupe(Protocol):
    @property
    def against_database(self) -> bool: ...


class _Spec(Protocol):
    @property
    def protocol(self) -> str: ...
    @property
    def cluster(self) -> str | None: ...
    @property
    def dedupe(self) -> _Dedupe: ...


class _Planned(Protocol):
    @property
    def flow(self) -> Flow: ...


class Plan(Protocol):
    """A campaign plan: its file, its spec (protocol, cluster, dedupe) and its flows."""

    @property
    def path(self) -> Path: ...
    @property
    def spec(self) -> _Spec: ...
    @property
    def flows(self) -> Sequence[_Planned]: ...


@dataclass
class CampaignSubmission:
    """What :func:`submit_campaign` did.

    Attributes
    ----------
    mode
        ``"submitted"`` (written to the database) or ``"queued"`` (left in the agent inbox).
    fw_ids
        fw_ids of the added Fireworks (``submitted`` only).
    duplicates
        Flows ``submit_flow`` found to be duplicates at insertion time (a race with another
        submission since planning).
    inbox_files
        The inbox files written (``queued`` only).
    agent_pid
        The agent holding the lock (``queued`` only).
    """

    mode: str
    fw_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    inbox_files: list[Path] = field(default_factory=list)
    agent_pid: int | None = None


def campaign_profile(cluster: str | None, path: Path) -> ClusterProfile:
    """The cluster profile a campaign's ``cluster`` key names (None: the configured one).

    Raises
    ------
    InputError
        No such profile, or a bad one, in one line naming the campaign file ``path``.
    """
    from htflow.cluster import load_profile

    try:
        return load_profile(cluster)
    except HtflowError as exc:
        raise InputError(f"{path}: key 'cluster': {exc}") from None


def resources_of(plan: Plan) -> dict[str, dict[str, Any]]:
    """Job type → the campaign's cluster-profile resource overrides (``htflow_resources``)."""
    from htflow.cluster.profile import ResourceSpec

    profile = campaign_profile(plan.spec.cluster, plan.path)
    out = {}
    for job_type in JOB_TYPES:
        spec = profile.resources.get(profile.routing.get(job_type, job_type), ResourceSpec())
        out[job_type] = spec.model_dump(exclude_none=True, mode="json")
    return out


def _submit_options(plan: Plan) -> dict[str, Any]:
    """``submit_flow``'s keyword arguments for every flow of ``plan``, direct or via the inbox."""
    return {
        "resources": resources_of(plan),
        "protocol": plan.spec.protocol,
        "dedupe": plan.spec.dedupe.against_database,
    }


def submit_campaign(
    plan: Plan,
    *,
    db_uri: str | None = None,
    agent_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CampaignSubmission:
    """Submit every flow of ``plan``, or none.

    Parameters
    ----------
    plan
        A plan from :func:`htflow.campaign.plan.plan_campaign`.
    db_uri
        Database URI (None: the configured one).
    agent_dir
        The running agent's directory, for the inbox (None: ``<htflow home>/agent``).
    progress
        ``progress(done, total)`` after each flow.
    """
    # the same submit_flow arguments directly or through the inbox (the agent passes them on)
    options = _submit_options(plan)
    try:
        with writer_lock(db_uri):
            launchpad = get_launchpad(db_uri)
            return _submit_all(plan, options, launchpad, progress)
    except WriterLockError:
        return _queue_for_agent(plan, options, db_uri, agent_dir)


def _submit_all(
    plan: Plan,
    options: dict[str, Any],
    launchpad: LaunchPad,
    progress: Callable[[int, int], None] | None,
) -> CampaignSubmission:
    from htflow.submit import submit_flow

    # the new Fireworks themselves: a flow that reuses a relaxation joins the FireWorks
    # workflow of the original, so "the workflow of a new fw_id" is not the flow's own
    added: list[int] = []
    duplicates = 0
    try:
        for i, planned in enumerate(plan.flows):
            result = submit_flow(planned.flow, launchpad, **options)
            if result.submitted:
                added += result.fw_ids.values()
            else:
                duplicates += 1
            if progress is not None:
                progress(i + 1, len(plan.flows))
    except BaseException:
        _roll_back(launchpad, added)
        raise
    return CampaignSubmission(mode="submitted", fw_ids=sorted(added), duplicates=duplicates)


def _roll_back(launchpad: LaunchPad, fw_ids: list[int]) -> None:
    """Delete the Fireworks added so far (we hold the writer lock: none of them ran), and only
    those: a workflow they were appended to keeps its own."""
    from htflow.submit.reuse import remove_fireworks

    try:
        remove_fireworks(launchpad, fw_ids)
    except Exception:
        logger.exception("could not roll back Fireworks %s", fw_ids)


def _queue_for_agent(
    plan: Plan, options: dict[str, Any], db_uri: str | None, agent_dir: Path | None
) -> CampaignSubmission:
    from htflow.db import lock_holder
    from htflow.settings import get_settings
    from htflow.submit.inbox import queue_submission

    directory = agent_dir or get_settings().home / "agent"
    if not directory.is_dir():
        raise InputError(
            f"the agent is running (it holds the database lock) but {directory} is not its "
            "directory: pass --agent-dir with the directory it runs in"
        )
    for planned in plan.flows:  # serialize everything first: fail before writing anything
        jsanitize(planned.flow, strict=True, enum_values=True)
    files = [queue_submission(planned.flow, directory, **options) for planned in plan.flows]
    return CampaignSubmission(mode="queued", inbox_files=files, agent_pid=lock_holder(db_uri))
