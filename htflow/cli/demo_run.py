"""The demo campaign end to end: local SLURM → submit → agent → builder → table and plots.

:func:`run_demo` is what ``htflow demo`` (:mod:`htflow.cli.demo`, and ``make demo``) runs;
like the command line, it drives the library (plan, submit, agent, builders, reports) and
nothing in the library imports it. It keeps everything it writes under one output directory
(``demo-output/`` by default): the htflow home with the embedded database and the agent's
launch directories in ``<out>/home``, the plots in ``<out>/plots``. The user's own
``~/.htflow`` is only touched for the local SLURM, which is the one ``htflow cluster up``
manages (its state directory is shared, so a cluster that is already up is reused, and the
demo leaves it up).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.exceptions import HtflowError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pandas as pd

    from htflow.campaign.plan import CampaignPlan
    from htflow.cluster.local_slurm import ClusterStatus

REPO_WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
DEMO_CAMPAIGN = REPO_WORKFLOWS / "demo.yaml"
FINAL_STATES = ("COMPLETED", "FIZZLED", "DEFUSED")


class DemoTimeoutError(HtflowError):
    """The demo's Fireworks did not all finish within the time limit."""


@dataclass
class DemoResult:
    """What :func:`run_demo` did.

    Attributes
    ----------
    out_dir, home, db_uri
        The output directory, the demo's htflow home and its database URI.
    campaign
        The campaign's name.
    states
        Firework state → count at the end.
    results
        The results table (one row per material).
    plots
        PNG files written.
    timings
        Stage → wall seconds (``cluster``, ``plan``, ``submit``, ``agent``, ``build``,
        ``plots``, ``total``).
    """

    out_dir: Path
    home: Path
    db_uri: str
    campaign: str = "demo"
    states: dict[str, int] = field(default_factory=dict)
    results: pd.DataFrame | None = None
    plots: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def demo_environment(out_dir: Path, use_user_home: bool = False) -> dict[str, str]:
    """Environment variables that point htflow (and the agent's jobs) at the demo's home.

    The SLURM state directory is resolved *before* the home changes, so the demo uses the
    cluster ``htflow cluster up`` manages rather than starting a second one.
    """
    from htflow.cluster.local_slurm import STATE_ENV, state_directory
    from htflow.settings import get_settings

    env = {STATE_ENV: str(state_directory())}
    home = get_settings().home if use_user_home else out_dir / "home"
    env["HTFLOW_HOME"] = str(Path(home).expanduser().resolve())
    return env


def run_demo(
    campaign: Path = DEMO_CAMPAIGN,
    out_dir: Path = Path("demo-output"),
    *,
    use_user_home: bool = False,
    timeout: float = 3600.0,
    poll: float = 2.0,
    on_cluster: Callable[[ClusterStatus], None] | None = None,
    on_plan: Callable[[CampaignPlan], None] | None = None,
    on_progress: Callable[[dict[str, int], int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run ``campaign`` through the local SLURM and the agent; build, tabulate and plot.

    Parameters
    ----------
    campaign
        The campaign YAML (default ``workflows/demo.yaml``).
    out_dir
        Everything goes here: ``home/`` (database, agent, launches) and ``plots/``.
    use_user_home
        Use the configured htflow home and database instead of ``<out_dir>/home``.
    timeout
        Seconds to wait for the agent to finish every Firework.
    poll
        Seconds between the agent's idle passes.
    on_cluster, on_plan, on_progress, on_stage
        Callbacks for the command line: the cluster status, the plan, ``(states, total)``
        after every agent pass, and the name of each stage as it starts.
    on_status
        Gets the agent's one-line status (:mod:`htflow.agent.progress`) at least every
        ``progress_interval`` seconds while the agent runs; for output with no terminal.

    Raises
    ------
    DemoTimeoutError
        Fireworks were still unfinished after ``timeout`` seconds (the agent is stopped;
        run ``htflow agent run`` with the same home to finish them).
    """
    from htflow.cluster.local_slurm import cluster_up
    from htflow.settings import get_settings

    stage = on_stage or (lambda name: None)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(demo_environment(out_dir, use_user_home))
    settings = get_settings()
    home = settings.home
    db_uri = settings.db_uri if use_user_home else None
    db_uri = db_uri or f"file://{home / 'db'}"
    result = DemoResult(out_dir=out_dir, home=home, db_uri=db_uri)
    from htflow.campaign.spec import load_campaign

    result.campaign = load_campaign(campaign).name
    start = time.monotonic()
    with _timed(result.timings, "cluster"):
        stage("cluster")
        status = cluster_up()
        if on_cluster is not None:
            on_cluster(status)
    with _timed(result.timings, "plan"):
        stage("plan")
        plan = plan_and_submit(campaign, db_uri, on_plan)
    with _timed(result.timings, "agent"):
        stage("agent")
        result.states = run_agent_until_done(
            plan.spec.name, db_uri, home / "agent", timeout=timeout, poll=poll,
            profile=str(demo_profile(plan.spec.cluster or "local", home)),
            on_progress=on_progress, on_status=on_status,
        )  # fmt: skip
    with _timed(result.timings, "build"):
        stage("build")
        build(db_uri)
    from htflow.reports.plots import plot_campaign
    from htflow.reports.results import results_table

    result.results = results_table(plan.spec.name, db_uri)
    with _timed(result.timings, "plots"):
        stage("plots")
        kinds = ("dos", "eos", "elastic") + (("parity",) if plan.spec.funnel else ())
        result.plots = plot_campaign(plan.spec.name, out_dir / "plots", db_uri, kinds=kinds)
    result.timings["total"] = time.monotonic() - start
    return result


def demo_profile(name: str, home: Path) -> Path:
    """``name``'s cluster profile tuned for a campaign of tiny cells, written under ``home``.

    - One MPI rank per calculation. The demo's cells have 1-2 atoms: on this scale pw.x gains
      nothing from a second rank (measured: a Si vc-relax costs the same CPU time per rank
      with ``-np 2 -nk 2`` as serially), so two serial calculations side by side finish twice
      as many runs per minute as one two-rank calculation.
    - One allocation at a time that the agent keeps topping up (:mod:`htflow.agent.topup`),
      waiting up to a minute for dependent work: each job of a chain (relax → static → DOS,
      EOS points → fit) would otherwise wait for a new allocation to start.
    """
    import yaml

    from htflow.cluster import load_profile

    profile = load_profile(name)
    data = profile.model_dump(mode="json", exclude_none=True)
    data["name"] = f"{profile.name}-demo"
    data["ranks_per_calculation"] = 1
    data["max_jobs_in_queue"] = 1
    data["allocation_idle_wait"] = 60
    data["walltime"] = "02:00:00"
    data["resources"], data["routing"] = {}, {}
    path = home / "demo-profile.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def plan_and_submit(
    campaign: Path, db_uri: str, on_plan: Callable[[CampaignPlan], None] | None = None
) -> CampaignPlan:
    """Plan the campaign against the database and submit what is new (all or nothing)."""
    from htflow.campaign.plan import plan_campaign
    from htflow.campaign.spec import load_campaign
    from htflow.cli.submit import known_phases_of
    from htflow.db import get_launchpad
    from htflow.submit.campaign import campaign_profile, submit_campaign

    spec = load_campaign(campaign)
    campaign_profile(spec.cluster, campaign)  # fails before planning
    plan = plan_campaign(
        campaign,
        launchpad=get_launchpad(db_uri),
        network=False,
        known_phases=known_phases_of(db_uri) if spec.funnel is not None else None,
    )
    if on_plan is not None:
        on_plan(plan)
    if plan.flows:
        submit_campaign(plan, db_uri=db_uri)
    return plan


def campaign_fw_states(lp: Any, campaign: str) -> dict[str, int]:
    """Firework state → count for the Fireworks of ``campaign``."""
    from htflow.launch.spec import CAMPAIGN_KEY

    docs = lp.fireworks.find({f"spec.{CAMPAIGN_KEY}": campaign}, {"state": 1})
    return dict(Counter(doc["state"] for doc in docs))


def run_agent_until_done(
    campaign: str,
    db_uri: str,
    agent_dir: Path,
    *,
    timeout: float = 3600.0,
    poll: float = 2.0,
    profile: str | None = None,
    on_progress: Callable[[dict[str, int], int], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Run the agent in this process until every Firework of ``campaign`` is final.

    ``on_status`` gets the campaign's one-line status at least every ``progress_interval``
    seconds (:class:`~htflow.agent.progress.ProgressReporter`). Returns the final state
    counts. Raises :class:`DemoTimeoutError` after ``timeout`` s.
    """
    from htflow.agent.loop import Agent, AgentConfig, StepReport, until_idle
    from htflow.agent.progress import ProgressReporter, firework_snapshot
    from htflow.cluster import load_profile
    from htflow.launch.spec import CAMPAIGN_KEY

    agent_dir.mkdir(parents=True, exist_ok=True)
    _log_to(agent_dir / "agent.log")
    config = AgentConfig(profile=load_profile(profile), agent_dir=agent_dir, db_uri=db_uri)
    deadline = time.monotonic() + timeout
    states: dict[str, int] = {}
    with Agent(config) as agent, warnings.catch_warnings():
        # FireWorks warns about every offline launch whose ping file is not written yet.
        warnings.simplefilter("ignore", UserWarning)

        def done(report: StepReport) -> bool:
            states.clear()
            states.update(campaign_fw_states(agent.lp, campaign))
            total = sum(states.values())
            if on_progress is not None:
                on_progress(dict(states), total)
            finished = sum(states.get(s, 0) for s in FINAL_STATES) == total
            return (finished and until_idle(report)) or time.monotonic() > deadline

        reporter = None
        if on_status is not None:
            query = {f"spec.{CAMPAIGN_KEY}": campaign}
            reporter = ProgressReporter(
                lambda: firework_snapshot(agent.lp, query), on_status, prefix="htflow demo"
            )
        agent.run(until=done, poll=poll, tick=reporter)
    unfinished = sum(n for s, n in states.items() if s not in FINAL_STATES)
    if unfinished:
        why = (
            "when the agent was stopped"
            if time.monotonic() < deadline
            else (f"after {timeout:.0f} s")
        )
        raise DemoTimeoutError(
            f"{unfinished} Fireworks of campaign {campaign!r} unfinished {why}: run the same "
            "command again to carry on (nothing done is redone)"
        )
    return states


def _log_to(log_file: Path) -> None:
    """Send the agent's log to ``log_file`` once (the terminal shows the progress bar)."""
    import logging

    from htflow.agent.loop import configure_logging

    root = logging.getLogger()
    target = str(log_file.resolve())
    if not any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        configure_logging(log_file)


def build(db_uri: str) -> None:
    """Run the materials builder as the one writer."""
    from htflow.builders import build_materials
    from htflow.db import writer_lock

    with writer_lock(db_uri):
        build_materials(db_uri)


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record a stage's wall time into ``timings``."""
    start = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - start
