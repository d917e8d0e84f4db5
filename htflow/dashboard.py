"""The FireWorks web GUI over htflow's database, for admins watching campaigns.

It only reads. It binds to 127.0.0.1 unless told otherwise, and turns on HTTP basic auth
when ``dashboard_password`` is set (``HTFLOW_DASHBOARD_PASSWORD``). htflow adds one page,
``/htflow/materials`` (``?campaign=NAME`` or ``?campaign=MATERIAL_ID`` to narrow it): the
materials, their properties and the quality of each with its reasons, behind the same auth.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from htflow.exceptions import HtflowError, InputError
from htflow.settings import get_settings

if TYPE_CHECKING:
    from flask import Flask

LOOPBACK = "127.0.0.1"
MATERIALS_PAGE_LIMIT = 500  # rows per page of /htflow/materials
DB_URI_KEY = "HTFLOW_DB_URI"

MATERIALS_TEMPLATE = """{% extends "base.html" %}
{% block title %}htflow materials{% endblock %}
{% block content %}
<h4>Materials{% if selection %}: {{ selection }}{% endif %} ({{ rows|length }}{% if more %}
 of {{ total }}{% endif %})</h4>
{% if error %}<p style="color:#c00">{{ error }}</p>{% endif %}
<p>Quality: <b>verified</b> (checks passed, protocol and pseudopotentials measured against
reference data), <b>checked</b> (every self-check passed), <b style="color:#c00">suspect</b>
(reasons listed). <code>htflow results MATERIAL_ID --checks</code> shows every check.</p>
<table class="table table-bordered table-condensed">
<tr>{% for header in headers %}<th>{{ header }}</th>{% endfor %}</tr>
{% for row in rows %}
<tr>{% for cell in row %}
  {% if cell.level is defined %}
  <td class="quality-{{ cell.level or 'none' }}">
    {% if cell.level == "suspect" %}<b style="color:#c00">suspect</b>
    <ul style="font-size:85%;margin:0">{% for r in cell.reasons %}<li>{{ r }}</li>{% endfor %}</ul>
    {% elif cell.level %}{{ cell.level }}{% else %}-{% endif %}
  </td>
  {% else %}<td>{{ cell.text }}</td>{% endif %}
{% endfor %}</tr>
{% endfor %}
</table>
{% endblock %}
"""


def create_app(uri: str | None = None) -> Flask:
    """FireWorks' Flask app bound to the configured LaunchPad, with auth from the settings."""
    from fireworks.flask_site.app import app

    from htflow.db import get_launchpad

    settings = get_settings()
    app.lp = get_launchpad(uri)
    app.config[DB_URI_KEY] = uri
    _add_materials_page(app)
    if settings.dashboard_password:
        app.config["WEBGUI_USERNAME"] = settings.dashboard_user
        app.config["WEBGUI_PASSWORD"] = settings.dashboard_password
    else:
        app.config["WEBGUI_USERNAME"] = None
        app.config["WEBGUI_PASSWORD"] = None
    return app


def _add_materials_page(app: Flask) -> None:
    """Register ``/htflow/materials`` once on FireWorks' (module-level) app, with its auth."""
    if "htflow_materials" in app.view_functions:
        return
    from fireworks.flask_site.app import requires_auth
    from flask import current_app, render_template_string, request

    @app.route("/htflow/materials")
    @requires_auth
    def htflow_materials() -> str:
        selection = request.args.get("campaign") or None
        page = materials_page(selection, current_app.config.get(DB_URI_KEY))
        return render_template_string(MATERIALS_TEMPLATE, selection=selection, **page)


def materials_page(selection: str | None, uri: str | None) -> dict[str, Any]:
    """What the materials page shows: headers, rows (value cells and quality cells)."""
    from htflow.reports.results import RESULT_COLUMNS, checks_of, format_value, results_table

    try:
        frame = results_table(selection, uri)
    except HtflowError as exc:
        return {"headers": [], "rows": [], "total": 0, "more": False, "error": str(exc)}
    total = len(frame)
    frame = frame.head(MATERIALS_PAGE_LIMIT)
    evidence = {m["material_id"]: m["checks"] for m in checks_of(list(frame.material_id), uri)}
    headers = [RESULT_COLUMNS.get(c, (c, "s"))[0] for c in frame.columns]
    rows = []
    for record in frame.to_dict(orient="records"):
        row: list[dict[str, Any]] = []
        for column, value in record.items():
            spec = RESULT_COLUMNS.get(column, (column, "s"))[1]
            if spec != "q":
                row.append({"text": format_value(value, spec)})
                continue
            key = column.split(".", 1)[1]
            level = value if isinstance(value, str) else None
            reasons = (evidence.get(record["material_id"], {}).get(key) or {}).get("reasons")
            row.append({"level": level, "reasons": reasons or []})
        rows.append(row)
    return {
        "headers": headers,
        "rows": rows,
        "total": total,
        "more": total > len(rows),
        "error": None,
    }


def check_bind(host: str, password: str | None) -> None:
    """Refuse to serve a non-loopback address without a password."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError as exc:
        raise InputError(f"dashboard host {host!r} is not an IP address or 'localhost'") from exc
    if not loopback and not password:
        raise InputError(
            f"refusing to serve the dashboard on {host} without a password: "
            "set HTFLOW_DASHBOARD_PASSWORD or bind to 127.0.0.1"
        )


def serve(host: str = LOOPBACK, port: int = 5000, uri: str | None = None) -> None:
    """Serve the dashboard until interrupted."""
    settings = get_settings()
    check_bind(host, settings.dashboard_password)
    app = create_app(uri)
    app.run(host=host, port=port, debug=False, use_reloader=False)
