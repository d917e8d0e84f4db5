"""The pseudopotential family names the benchmarks take: any registered family, or ``sssp``.

``sssp`` is the SSSP 1.3.0 PBE precision subset beside the repository
(``../shared/reference/pseudos``), registered on first use in the HTFLOW_HOME in use; users
register their own copy with ``htflow pseudos add``. Imported by the scripts in this
directory (run as ``python benchmarks/<script>.py``, which puts this directory on the path).
"""

from __future__ import annotations

from pathlib import Path

from htflow.exceptions import HtflowError
from htflow.qe.pseudos import get_pseudo_family, register_pseudo_family

REPO = Path(__file__).resolve().parents[1]
SSSP_DIR = REPO / ".." / "shared" / "reference" / "pseudos" / "SSSP_1.3.0_PBE_precision"
SSSP_NAME = "sssp"


def resolve_family(name: str | None) -> str | None:
    """``name`` itself, after registering the shared SSSP set when ``name`` is ``sssp``."""
    if name != SSSP_NAME:
        return name
    try:
        get_pseudo_family(SSSP_NAME)
    except HtflowError:
        register_pseudo_family(SSSP_NAME, SSSP_DIR.resolve())
    return SSSP_NAME
