"""The dashboard in a real browser (headless Chromium) over a real agent on the local SLURM.

One module-wide setup: the dashboard served by waitress on a free loopback port (a thread),
two campaigns of quick pure-Python jobs, ``live`` (naps, and one job that fails until a
marker file exists) and ``chain`` (three naps in a row), a browser signed in that paused
``chain`` before anything ran, and an agent (``htflow agent run``, a subprocess with its own
environment) started by the first test that needs it. The tests do not depend on their order:
each one that must see something happen hands the agent new work through its inbox.

Screenshots go to ``artifacts/dashboard/`` at the repository root (gitignored; set
``HTFLOW_TEST_ARTIFACTS`` to put them elsewhere); docs/img/ holds copies.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jobflow import Flow

from htflow.launch.spec import CAMPAIGN_KEY
from tests.agent.agent_helpers import agent_environment, start_agent, write_profile
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


@pytest.fixture(autouse=True)
def htflow_home() -> None:
    """Keep the module's environment (conftest's per-test home would replace it)."""


@dataclass
class Harness:
    """The dashboard, the database, and the agent subprocess (started on demand)."""

    url: str
    db: str
    tmp: Path
    env: dict[str, str]
    profile: Path
    proc: subprocess.Popen[bytes] | None = None
    paused: str = ""

    @property
    def agent_dir(self) -> Path:
        return self.tmp / "agent"

    def start_agent(self) -> None:
        if self.proc is None:
            self.proc = start_agent(self.agent_dir, self.db, self.profile, self.env)

    def queue(self, campaign: str, name: str, seconds: float) -> None:
        """Hand the running agent one more nap (named ``name``) through its inbox."""
        from htflow.submit.inbox import queue_submission

        job = nap(seconds)
        job.name = name
        queue_submission(in_campaign(campaign, Flow([job])), self.agent_dir, dedupe=False)

    def fireworks(self, campaign: str) -> list[dict[str, Any]]:
        from htflow.db.scan import scan

        fields = ["fw_id", "name", "state", "launches"]
        return scan(self.db, "fireworks", fields, {f"spec.{CAMPAIGN_KEY}": campaign})

    def state_of(self, campaign: str, name: str) -> str | None:
        found = [f["state"] for f in self.fireworks(campaign) if f["name"] == name]
        return found[0] if found else None

    def wait(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.agent_dir / "agent.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"the agent exited ({self.proc.returncode}): {log}")
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

    from htflow.dashboard import create_app
    from htflow.dashboard.actions import ACTION_WAIT_KEY, AGENT_DIR_KEY
    from htflow.dashboard.users import UserStore, add_user
    from htflow.db import get_launchpad
    from htflow.submit import submit_flow

    tmp = tmp_path_factory.mktemp("browser")
    env = agent_environment(local_slurm.slurm_conf, tmp / "home")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("HTFLOW_DASHBOARD_PASSWORD", raising=False)
        db = f"file://{tmp}/db"
        lp = get_launchpad(db)
        live = [nap(2) for _ in range(4)]
        submit_flow(in_campaign("live", Flow([*live, fail_until(str(tmp / "fixed"))])), lp)
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
        profile = write_profile(
            tmp, tasks_per_node=1, max_jobs_in_queue=2, calculations_per_allocation=4
        )
        harness = Harness(f"http://127.0.0.1:{server.effective_port}", db, tmp, env, profile)
        try:
            yield harness
        finally:
            if harness.proc is not None and harness.proc.poll() is None:
                harness.proc.send_signal(signal.SIGTERM)
                try:
                    harness.proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    harness.proc.kill()
                    harness.proc.wait()
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


@pytest.fixture(scope="module")
def signed_in(harness: Harness, browser: Any) -> Any:
    """The browser signed in as the admin, having paused ``chain`` before any agent ran."""
    _sign_in(browser, harness, "/campaign/chain")
    _click(browser, "#pause")  # no agent yet: applied at once under the writer lock
    _wait(browser, "the outcome", lambda d: _text(d, "#outcome-status"))
    harness.paused = _text(browser, "#outcome-status")
    return browser


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


def test_counts_change_without_reload(harness: Harness, signed_in: Any) -> None:
    browser = signed_in
    browser.get(harness.url + "/campaign/live")
    browser.execute_script("window.htflowMarker = 'same page';")
    before = int(_text(browser, "#completed"))
    harness.start_agent()
    harness.queue("live", "watched", 1)  # something completes after the page was loaded
    _wait(browser, "COMPLETED count to rise", lambda d: int(_text(d, "#completed") or 0) > before)
    # the count changed in place: the page (and its marker) were never reloaded
    assert browser.execute_script("return window.htflowMarker;") == "same page"
    browser.save_screenshot(str(artifacts() / "campaign-live.png"))
    browser.get(harness.url + "/")
    # chain is paused here unless the pause test (which resumes it) ran first
    _wait(browser, "the campaigns", lambda d: "chain" in _text(d, "tr[data-key='chain']"))
    browser.set_window_size(1280, 420)
    browser.save_screenshot(str(artifacts() / "campaigns.png"))
    browser.set_window_size(1280, 1000)


def test_rerun_a_fizzled_firework_by_cause(harness: Harness, signed_in: Any) -> None:
    from selenium.webdriver.common.by import By

    browser = signed_in
    harness.start_agent()
    harness.wait(
        "the flaky job to fizzle", lambda: harness.state_of("live", "fail_until") == "FIZZLED"
    )
    browser.get(harness.url + "/campaign/live")
    assert _text(browser, "#failures .cause") == "ValueError: not ready yet"
    browser.save_screenshot(str(artifacts() / "campaign-failures.png"))
    (harness.tmp / "fixed").write_text("fixed")  # the cause is fixed: the rerun will succeed
    form = browser.find_element(By.CSS_SELECTOR, "#failures form.rerun-cause")
    form.find_element(By.CSS_SELECTOR, "button").click()
    _wait(browser, "the outcome", lambda d: _text(d, "#outcome-status") in ("applied", "queued"))
    assert _text(browser, "#outcome-n") == "1" or _text(browser, "#outcome-status") == "queued"
    harness.wait(
        "the rerun to complete", lambda: harness.state_of("live", "fail_until") == "COMPLETED"
    )
    fw_id = next(f["fw_id"] for f in harness.fireworks("live") if f["name"] == "fail_until")
    browser.get(f"{harness.url}/fw/{fw_id}")
    assert _text(browser, "#fw-state") == "COMPLETED"
    launches = _text(browser, "#launches")
    assert "(archived)" in launches and "FIZZLED" in launches  # the first run is kept
    browser.save_screenshot(str(artifacts() / "firework.png"))


def test_paused_campaign_starts_nothing_until_resumed(harness: Harness, signed_in: Any) -> None:
    browser = signed_in
    assert harness.paused == "applied"  # paused from the browser before the agent started
    harness.start_agent()
    harness.queue("live", "after-pause", 0.5)
    # the agent claims, runs and ingests work queued after the pause ...
    harness.wait(
        "new work to complete", lambda: harness.state_of("live", "after-pause") == "COMPLETED"
    )
    # ... and started nothing of the paused campaign
    chain = harness.fireworks("chain")
    assert all(not f.get("launches") for f in chain), chain
    browser.get(harness.url + "/campaign/chain")
    shown = (_text(browser, "#count-RUNNING"), _text(browser, "#completed"))
    assert shown == ("0", "0"), (shown, _text(browser, "main")[:500])
    _click(browser, "#resume")
    _wait(browser, "the outcome", lambda d: _text(d, "#outcome-status") in ("applied", "queued"))
    browser.get(harness.url + "/campaign/chain")
    browser.execute_script("window.htflowMarker = 'same page';")
    _wait(browser, "chain to finish", lambda d: _text(d, "#completed") == "3")
    assert browser.execute_script("return window.htflowMarker;") == "same page"
    assert "active" in _text(browser, "h1")
