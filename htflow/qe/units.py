"""Conversion factors from Quantum ESPRESSO's atomic units to htflow's eV, Å and GPa.

The values are CODATA 2018, the set pw.x 6.6+ uses (Modules/constants.f90), so numbers
converted here agree with the eV values pw.x prints to many digits.
"""

from __future__ import annotations

HARTREE_TO_EV = 27.211386245988
RY_TO_EV = HARTREE_TO_EV / 2
BOHR_TO_ANGSTROM = 0.529177210903
# 1 Hartree/bohr^3 in GPa: 4.3597447222071e-18 J / (0.529177210903e-10 m)^3 / 1e9.
HARTREE_PER_BOHR3_TO_GPA = 29421.0156965221
KBAR_TO_GPA = 0.1
HARTREE_PER_BOHR_TO_EV_PER_ANGSTROM = HARTREE_TO_EV / BOHR_TO_ANGSTROM
RY_PER_BOHR_TO_EV_PER_ANGSTROM = RY_TO_EV / BOHR_TO_ANGSTROM
