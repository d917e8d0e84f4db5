"""The HTML pages: campaigns, a campaign, its Fireworks, its materials, one Firework, plots."""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from htflow.dashboard.app import db_uri
from htflow.dashboard.paging import page_number

pages = Blueprint("pages", __name__)
_plot_lock = threading.Lock()  # matplotlib is not meant for concurrent figures


@pages.route("/")
def campaigns() -> str:
    """Every campaign with its progress and admin state."""
    from htflow.dashboard.campaigns import campaign_list

    return render_template("campaigns.html", campaigns=campaign_list(db_uri()))


@pages.route("/campaign/<name>")
def campaign(name: str) -> str:
    """Counts, workflows, throughput, failures by cause, core-hours, actions."""
    from htflow.dashboard.campaigns import STATES, campaign_view

    view = campaign_view(db_uri(), name, page_number(request.args.get("page")))
    if view is None:
        abort(404, f"no Firework belongs to a campaign {name!r}")
    return render_template("campaign.html", view=view, states=STATES)


@pages.route("/campaign/<name>/fireworks")
def fireworks(name: str) -> str:
    """The campaign's Fireworks, 50 a page (``?state=FIZZLED`` for one state)."""
    from htflow.dashboard.campaigns import STATES, fireworks_page

    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        abort(400, f"unknown state {state!r}")
    page = fireworks_page(db_uri(), name, state, page_number(request.args.get("page")))
    return render_template("fireworks.html", name=name, state=state, page=page, states=STATES)


@pages.route("/campaign/<name>/materials")
def campaign_materials(name: str) -> str:
    """The campaign's materials with the quality of each property, and plot links."""
    return _materials(name)


@pages.route("/htflow/materials")
def materials() -> str:
    """Every material, or ``?campaign=NAME`` (or one material id); kept from the old GUI."""
    return _materials(request.args.get("campaign") or None)


def _materials(selection: str | None) -> str:
    from htflow.dashboard.materials import PLOT_KINDS, materials_page

    page = materials_page(selection, db_uri(), page_number(request.args.get("page")))
    pager_args = dict(request.view_args or {})
    if request.endpoint == "pages.materials" and selection:
        pager_args["campaign"] = selection
    return render_template(
        "materials.html", selection=selection, kinds=PLOT_KINDS, pager_args=pager_args, **page
    )


@pages.route("/fw/<int:fw_id>")
def firework(fw_id: int) -> str:
    """Inputs, pw.in, the tail of pw.out, Custodian's corrections, every launch."""
    from htflow.dashboard.firework import firework_view, pretty

    view = firework_view(db_uri(), fw_id)
    if view is None:
        abort(404, f"no Firework {fw_id}")
    return render_template("firework.html", fw=view, pretty=pretty)


@pages.route("/campaign/<name>/loop.png")
def loop_plot(name: str) -> Any:
    """An active campaign's loop plot (``htflow plot --kind loop``'s figure), rendered now."""
    import tempfile
    from pathlib import Path

    from htflow.exceptions import HtflowError
    from htflow.reports.loop_plot import plot_loop

    try:
        with _plot_lock, tempfile.TemporaryDirectory(prefix="htflow-plot-") as tmp:
            png = plot_loop(name, Path(tmp), db_uri()).read_bytes()
    except HtflowError as exc:
        return Response(f"{exc}\n", 404, mimetype="text/plain")
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=30"})


@pages.route("/plot/<material_id>/<kind>.png")
def plot(material_id: str, kind: str) -> Any:
    """A material's DOS, EOS or elastic plot, rendered on demand (``htflow plot``'s figure)."""
    from htflow.dashboard.materials import PLOT_KINDS, plot_png
    from htflow.exceptions import HtflowError
    from htflow.reports.results import is_material_id

    if kind not in PLOT_KINDS or not is_material_id(material_id):
        abort(404)
    try:
        with _plot_lock:
            png = plot_png(material_id, kind, db_uri())
    except HtflowError as exc:
        return Response(f"{exc}\n", 404, mimetype="text/plain")
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})
