"""The dashboard in a real browser (headless Chromium) over a real agent on the local SLURM.

One module-wide setup: the dashboard served by waitress on a free loopback port (a thread),
an agent (:class:`htflow.agent.loop.Agent` in a thread, so the tests can count its passes)
and two campaigns of quick pure-Python jobs: ``live`` (naps, and one job that fails until a
marker file exists) and ``chain`` (three naps in a row, paused before the agent starts).

Screenshots go to ``artifacts/dashboard/`` at the repository root (gitignored; set
``HTFLOW_TEST_ARTIFACTS`` to put them elsewhere); docs/img/ holds copies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow

from htflow.launch.spec import CAMPAIGN_KEY
from tests.agent.agent_helpers import agent_environment, write_profile
from tests.cluster.conftest import local_slurm  # noqa: F401 (the shared cluster fixture)
from tests.dashboard.conftest import ADMIN
from tests.dashboard.jobs import fail_until, nap

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from htflow.cluster.local_slurm import ClusterStatus

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
_missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(bool(_missing), reason=f"no browser: {', '.join(_missing)} missing"),
]
REPO = Path(__file__).resolve().parents[2]
WAIT = 240.0  # s: generous, the node has two shared cores


def artifacts() -> Path:
    path = Path(os.environ.get("HTFLOW_TEST_ARTIFACTS") or REPO / "artifacts" / "dashboard")
    path.mkdir(parents=True, exist_ok=True)
    return path


def in_campaign(name: str, flow: Flow) -> Flow:
    flow.update_config({"manager_config": {CAMPAIGN_KEY: name}})
    return flow


@dataclass
class Harness:
    """The dashboard, the database, the agent (started on demand) and its pass counter."""

    url: str
    db: str
    marker: Path
    agent_config: Any
    passes: int = 0
    error: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start_agent(self) -> None:
        if self.thread is not None:
            return
        self.thread = threading.Thread(target=self._run, name="agent", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from htflow.agent.loop import Agent

        def until(_: Any) -> bool:
            self.passes += 1
            return self.stop.is_set()

        try:
            with Agent(self.agent_config) as agent:
                agent.run(until=until, poll=0.3)
        except BaseException as exc:  # surfaced by the tests' waits
            self.error.append(exc)

    def fireworks(self, campaign: str) -> list[dict[str, Any]]:
        from htflow.db.scan import scan

        fields = ["fw_id", "name", "state", "launches"]
        return scan(self.db, "fireworks", fields, {f"spec.{CAMPAIGN_KEY}": campaign})

    def wait(self, what: str, condition: Callable[[], bool]) -> None:
        import time

        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.error:
                raise AssertionError(f"the agent died: {self.error[0]!r}")
            if condition():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def harness(
    local_slurm: ClusterStatus,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Harness]:
    from waitress import create_server

    from htflow.agent.loop import AgentConfig
    from htflow.cluster import load_profile
    from htflow.dashboard import create_app
    from htflow.dashboard.actions import ACTION_WAIT_KEY, AGENT_DIR_KEY
    from htflow.dashboard.users import UserStore, add_user
    from htflow.db import get_launchpad
    from htflow.submit import submit_flow

    tmp = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in agent_environment(local_slurm.slurm_conf, tmp / "home").items():
            mp.setenv(key, value)
        mp.delenv("HTFLOW_DASHBOARD_PASSWORD", raising=False)
        db = f"file://{tmp}/db"
        marker = tmp / "fixed"
        lp = get_launchpad(db)
        live = [nap(3) for _ in range(6)]
        submit_flow(in_campaign("live", Flow([*live, fail_until(str(marker))])), lp)
        first = nap(1)
        second = nap(first.output)
        third = nap(second.output)
        submit_flow(in_campaign("chain", Flow([first, second, third])), lp)
        users = tmp / "users.yaml"
        add_user(users, *ADMIN, role="admin")
        app = create_app(db, UserStore(users), poll_ms=1000)
        app.config[AGENT_DIR_KEY] = tmp / "agent"
        app.config[ACTION_WAIT_KEY] = 30.0
        server: Any = create_server(app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, name="waitress", daemon=True).start()
        profile = load_profile(
            write_profile(tmp, tasks_per_node=1, max_jobs_in_queue=2, calculations_per_allocation=4)
        )
        config = AgentConfig(profile=profile, agent_dir=tmp / "agent", db_uri=db)
        harness = Harness(f"http://127.0.0.1:{server.effective_port}", db, marker, config)
        try:
            yield harness
        finally:
            harness.stop.set()
            if harness.thread is not None:
                harness.thread.join(timeout=120)
            _cancel_allocations(db)
            server.close()


def _cancel_allocations(db: str) -> None:
    """scancel what the agent left queued (its jobs are seconds long; this is hygiene)."""
    from htflow.db import get_launchpad, records

    jobs = [a["job_id"] for a in records.active_allocations(get_launchpad(db)) if a.get("job_id")]
    if jobs and shutil.which("scancel"):
        subprocess.run(["scancel", *map(str, jobs)], check=False, capture_output=True)


@pytest.fixture(scope="module")
def browser(harness: Harness) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, what: str, condition: Callable[[Any], Any]) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.5).until(condition, message=what)


def _text(driver: Any, css: str) -> str:
    """The element's text; "" while the page does not have it (e.g. still loading)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _click(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, css).click()


def _sign_in(driver: Any, harness: Harness, path: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(harness.url + path)
    assert driver.find_element(By.ID, "login-form")  # the 401 page is the login form
    driver.find_element(By.ID, "username").send_keys(ADMIN[0])
    driver.find_element(By.ID, "password").send_keys(ADMIN[1])
    driver.save_screenshot(str(artifacts() / "login.png"))
    _click(driver, "#sign-in")
    _wait(driver, f"{path} after sign-in", lambda d: d.current_url == harness.url + path)


def test_sign_in_pause_and_watch_counts_change_without_reload(
    harness: Harness, browser: Any
) -> None:
    _sign_in(browser, harness, "/campaign/chain")
    _click(browser, "#pause")  # no agent yet: applied at once under the writer lock
    _wait(browser, "the outcome", lambda d: _text(d, "#outcome-status"))
    assert _text(browser, "#outcome-status") == "applied", _text(browser, "main")
    browser.get(harness.url + "/campaign/live")
    browser.execute_script("window.htflowMarker = 'same page';")
    assert _text(browser, "#completed") == "0"
    harness.start_agent()
    _wait(browser, "COMPLETED count to rise", lambda d: _text(d, "#completed") not in ("", "0"))
    # the count changed in place: the page (and its marker) were never reloaded
    assert browser.execute_script("return window.htflowMarker;") == "same page"
    browser.save_screenshot(str(artifacts() / "campaign-live.png"))
    browser.get(harness.url + "/")
    _wait(browser, "the paused flag", lambda d: "paused" in _text(d, "tr[data-key='chain']"))
    browser.set_window_size(1280, 420)
    browser.save_screenshot(str(artifacts() / "campaigns.png"))
    browser.set_window_size(1280, 1000)


def test_rerun_a_fizzled_firework_by_cause(harness: Harness, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    def flaky() -> dict[str, Any]:
        return next(f for f in harness.fireworks("live") if f["name"] == "fail_until")

    harness.wait("the flaky job to fizzle", lambda: flaky()["state"] == "FIZZLED")
    browser.get(harness.url + "/campaign/live")
    assert _text(browser, "#failures .cause") == "ValueError: not ready yet"
    browser.save_screenshot(str(artifacts() / "campaign-failures.png"))
    harness.marker.write_text("fixed")  # the cause is fixed: the rerun will succeed
    form = browser.find_element(By.CSS_SELECTOR, "#failures form.rerun-cause")
    form.find_element(By.CSS_SELECTOR, "button").click()
    _wait(browser, "the outcome", lambda d: _text(d, "#outcome-status") in ("applied", "queued"))
    assert _text(browser, "#outcome-n") == "1" or _text(browser, "#outcome-status") == "queued"
    fw_id = flaky()["fw_id"]
    harness.wait("the rerun to complete", lambda: flaky()["state"] == "COMPLETED")
    browser.get(f"{harness.url}/fw/{fw_id}")
    assert _text(browser, "#fw-state") == "COMPLETED"
    launches = _text(browser, "#launches")
    assert "(archived)" in launches and "FIZZLED" in launches  # the first run is kept
    browser.save_screenshot(str(artifacts() / "firework.png"))


def test_paused_campaign_starts_nothing_until_resumed(harness: Harness, browser: Any) -> None:
    harness.start_agent()
    live_ids = {f["fw_id"] for f in harness.fireworks("live")}
    harness.wait("the agent to launch live's jobs", lambda: _launched(harness, live_ids))
    after = harness.passes
    harness.wait("three more agent passes", lambda: harness.passes >= after + 3)
    chain = harness.fireworks("chain")
    assert all(not f.get("launches") for f in chain), chain  # paused: nothing started
    browser.get(harness.url + "/campaign/chain")
    assert _text(browser, "#count-RUNNING") == "0" and _text(browser, "#completed") == "0"
    _click(browser, "#resume")
    _wait(browser, "the outcome", lambda d: _text(d, "#outcome-status") in ("applied", "queued"))
    browser.get(harness.url + "/campaign/chain")
    browser.execute_script("window.htflowMarker = 'same page';")
    _wait(browser, "chain to finish", lambda d: _text(d, "#completed") == "3")
    assert browser.execute_script("return window.htflowMarker;") == "same page"
    assert "active" in _text(browser, "h1")


def _launched(harness: Harness, fw_ids: set[int]) -> bool:
    return any(f.get("launches") for f in harness.fireworks("live") if f["fw_id"] in fw_ids)
