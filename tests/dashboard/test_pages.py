"""What the pages show: campaigns, a campaign (counts, failures, throughput, workflows), a
Firework (files, launch history across reruns), pages that never overlap, the JSON API."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from fireworks import Firework, ScriptTask, Workflow

from htflow.db import get_launchpad
from htflow.launch.spec import CAMPAIGN_KEY
from tests.dashboard.conftest import PW_OUT_TAIL, run_in_process

if TYPE_CHECKING:
    from pathlib import Path

    from flask import Flask
    from flask.testing import FlaskClient


def test_campaigns_list_shows_progress_of_each_campaign(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    html = client.get("/").get_data(as_text=True)
    assert 'href="/campaign/alpha"' in html
    assert '<progress max="4" value="2"' in html
    assert "loose" not in html  # a workflow of no campaign is not a campaign
    data = client.get("/api/campaigns").get_json()
    alpha = data["campaigns"]["alpha"]
    assert (alpha["total"], alpha["completed"], alpha["states"]["FIZZLED"]) == (4, 2, 1)
    assert alpha["paused"] is False and alpha["cancelled"] is False


def test_campaign_page_counts_failures_files_and_throughput(
    admin: tuple[FlaskClient, str],
) -> None:
    client, _ = admin
    page = client.get("/campaign/alpha")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="count-COMPLETED">2<' in html and 'id="count-FIZZLED">1<' in html
    assert 'id="count-WAITING">1<' in html
    # failures grouped by cause, with the last lines of pw.out and Custodian's corrections
    assert "RuntimeError: ScriptTask fizzled! Return code: [3]</span>: 1 Firework" in html
    assert PW_OUT_TAIL in html
    assert "iteration #199" in html and "iteration #100\n" not in html
    assert "ScfConvergenceHandler" in html and "scf_not_converged" in html
    assert "mixing_beta" in html
    # throughput, core-hours (no allocation: run in-process), workflows
    assert "2 launches completed" in html and "<rect " in html
    assert "core-hours in 0 allocations" in html
    assert "alpha Si relax_static" in html and "alpha GaAs relax_static" in html
    assert "COMPLETED: 1 · FIZZLED: 1" in html  # workflow states
    assert client.get("/campaign/nope").status_code == 404
    counts = client.get("/api/campaign/alpha/counts").get_json()
    assert counts["states"]["COMPLETED"] == 2 and counts["percent"] == 50.0
    assert client.get("/api/campaign/nope/counts").status_code == 404


def test_firework_page_keeps_launch_history_across_a_rerun(
    admin: tuple[FlaskClient, str], campaign_db: str, tmp_path: Path
) -> None:
    client, token = admin
    html = client.get("/fw/3").get_data(as_text=True)
    assert "calculation = &#39;relax&#39;" in html  # pw.in
    assert PW_OUT_TAIL in html and "ScfConvergenceHandler" in html
    assert "ScriptTask fizzled" in html
    assert "&#34;htflow_campaign&#34;: &#34;alpha&#34;" in html  # the spec, minus internals
    assert "_tasks" not in html
    rerun = client.post("/fw/3/rerun", data={"csrf_token": token})
    assert rerun.status_code == 200, rerun.get_data(as_text=True)
    assert 'id="outcome-status">applied' in rerun.get_data(as_text=True)
    lp = get_launchpad(campaign_db)
    assert lp.get_fw_dict_by_id(3)["state"] == "READY"
    run_in_process(lp, 3, tmp_path / "launches" / "fw3-again")
    html = client.get("/fw/3").get_data(as_text=True)
    assert html.count("(archived)") == 1  # the first launch, kept
    assert html.count('<td class="state-FIZZLED">FIZZLED</td>') == 2
    assert "fw3-again" in html
    assert client.get("/fw/999").status_code == 404


@pytest.fixture
def big_campaign(campaign_db: str) -> int:
    """120 more READY Fireworks in campaign ``alpha``."""
    lp = get_launchpad(campaign_db)
    fws = [
        Firework(ScriptTask.from_str("true"), name=f"bulk-{i}", spec={CAMPAIGN_KEY: "alpha"})
        for i in range(120)
    ]
    lp.add_wf(Workflow(fws, name="alpha bulk"))
    return 124


def test_consecutive_pages_never_overlap(admin: tuple[FlaskClient, str], big_campaign: int) -> None:
    client, _ = admin
    seen: list[int] = []
    pages = []
    for number in range(1, 5):
        data = client.get(f"/api/campaign/alpha/fireworks?page={number}").get_json()
        pages.append([fw["fw_id"] for fw in data["fireworks"]])
        assert data["pages"] == 3 and data["total"] == big_campaign
    assert [len(p) for p in pages] == [50, 50, 24, 24]  # past the end: the last page
    for first, second in itertools.pairwise(pages[:3]):
        assert not set(first) & set(second)
        assert max(first) < min(second)
    seen = [fw_id for page in pages[:3] for fw_id in page]
    assert len(seen) == len(set(seen)) == big_campaign
    html = client.get("/campaign/alpha/fireworks?page=2").get_data(as_text=True)
    assert (
        "rows 51–100 of 124" in html and 'rel="next" href="/campaign/alpha/fireworks?page=3' in html
    )
    ready = client.get("/api/campaign/alpha/fireworks?state=READY").get_json()
    assert ready["total"] == 120
    assert client.get("/campaign/alpha/fireworks?state=BOGUS").status_code == 400


def test_counts_are_shared_between_pollers_for_the_snapshot_time(
    campaign_db: str, users: object, big_campaign: int
) -> None:
    from htflow.dashboard import create_app
    from tests.dashboard.conftest import ADMIN, login

    app: Flask = create_app(campaign_db, users, snapshot_ttl=3600)  # type: ignore[arg-type]
    client = app.test_client()
    login(client, *ADMIN)
    first = client.get("/api/campaign/alpha/counts").get_json()
    lp = get_launchpad(campaign_db)
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), spec={CAMPAIGN_KEY: "alpha"})]))
    assert client.get("/api/campaign/alpha/counts").get_json()["total"] == first["total"]
    # the pages themselves always read the store
    assert f'<span data-field="total">{first["total"] + 1}</span>' in client.get(
        "/campaign/alpha"
    ).get_data(as_text=True)


def test_throughput_bins_completed_launches() -> None:
    import datetime as dt

    from htflow.dashboard.throughput import throughput

    start = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    ends = [start + dt.timedelta(minutes=m) for m in (0, 1, 1, 30, 119)]
    ends_text = [e.isoformat() for e in ends[:3]] + ends[3:] + [None, "not a time"]
    t = throughput(ends_text)
    assert t["bin_seconds"] == 300 and t["total"] == 5
    assert [b["count"] for b in t["bins"]][:2] == [3, 0] and sum(b["count"] for b in t["bins"]) == 5
    assert t["bins"][0]["start"] == "2026-01-01 10:00" and t["per_hour"] == 2.5
    assert max(bar["height"] for bar in t["bars"]) == 120
    assert throughput([])["bins"] == []


def test_an_active_campaign_page_shows_its_rounds_and_the_loop_plot(
    admin: tuple[FlaskClient, str], campaign_db: str
) -> None:
    from tests.reports.test_active_loop_report import rounds_world

    client, _ = admin
    assert 'id="active-loop"' not in client.get("/campaign/alpha").get_data(as_text=True)
    rounds_world(campaign_db, "alpha")
    html = client.get("/campaign/alpha").get_data(as_text=True)
    assert 'id="active-loop"' in html
    assert "band_gap closest to 1 eV · pool of 4" in html
    assert "<b>stopped</b>: budget spent: 3 of 3 calculations" in html
    assert "<td>c0000 Si, c0001 C</td>" in html and "1.1 (c0002)" in html
    assert 'src="/campaign/alpha/loop.png"' in html
    png = client.get("/campaign/alpha/loop.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/campaign/nope/loop.png").status_code == 404
