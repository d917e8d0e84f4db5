"""The ``references`` endpoint's entries: htflow itself, and each campaign in the database.

Every structure relates to the project reference (``htflow``). The campaign references name
the campaigns whose Fireworks the LaunchPad holds (``spec.htflow_campaign``), read when the
server starts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from htflow.launch.spec import CAMPAIGN_KEY
from htflow.optimade.fields import PROJECT_REFERENCE_ID

CAMPAIGN_REFERENCE_PREFIX = "htflow-campaign-"


def reference_documents(uri: str | None) -> list[dict[str, Any]]:
    """The reference entries as documents for optimade's ``references`` collection."""
    import htflow

    now = datetime.now(UTC).replace(microsecond=0)
    out = [
        {
            "id": PROJECT_REFERENCE_ID,
            "last_modified": now,
            "bib_type": "misc",
            "title": "htflow: high-throughput DFT campaigns (Quantum ESPRESSO, VASP) on SLURM",
            "howpublished": f"htflow {htflow.__version__}",
            "note": "Structures relaxed and properties computed by htflow campaigns. Each "
            "structure carries its code, protocol and pseudopotential family "
            "(_htflow_code, _htflow_protocol, _htflow_pseudo_family) and the quality of each "
            "property (_htflow_quality_*).",
        }
    ]
    for name in campaign_names(uri):
        out.append(
            {
                "id": f"{CAMPAIGN_REFERENCE_PREFIX}{name}",
                "last_modified": now,
                "bib_type": "misc",
                "title": f"htflow campaign {name!r}",
                "note": f"The calculations that htflow campaign {name!r} submitted.",
            }
        )
    return out


def campaign_names(uri: str | None) -> list[str]:
    """Names of the campaigns with Fireworks in the database (none when it has no LaunchPad)."""
    from htflow.db.scan import scan

    rows = scan(uri, "fireworks", [f"spec.{CAMPAIGN_KEY}"])
    return sorted({str(r[f"spec.{CAMPAIGN_KEY}"]) for r in rows if r.get(f"spec.{CAMPAIGN_KEY}")})
