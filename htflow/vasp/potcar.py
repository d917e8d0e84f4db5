"""POTCAR availability: VASP's pseudopotentials are licensed, never shipped, and must be found
before a flow is submitted rather than when a compute job writes its inputs.

pymatgen looks POTCARs up under ``PMG_VASP_PSP_DIR/<functional dir>/`` as ``POTCAR.<symbol>``
or ``<symbol>/POTCAR`` (optionally compressed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable

PSP_ENV = "PMG_VASP_PSP_DIR"
_SUFFIXES = ("", ".gz", ".bz2", ".Z", ".xz")


def psp_dir() -> Path | None:
    """The POTCAR root pymatgen uses: ``$PMG_VASP_PSP_DIR`` now, else pymatgen's settings."""
    value = os.environ.get(PSP_ENV)
    if not value:
        from pymatgen.core import SETTINGS

        value = SETTINGS.get(PSP_ENV)
    return Path(value).expanduser() if value else None


def potcar_path(root: Path, functional: str, symbol: str) -> Path | None:
    """The POTCAR file for ``symbol`` of ``functional`` under ``root``, or None if absent."""
    from pymatgen.io.vasp.inputs import PotcarSingle

    subdir = PotcarSingle.functional_dir.get(functional)
    if subdir is None:
        return None
    for name in (f"POTCAR.{symbol}", f"{symbol}/POTCAR"):
        for suffix in _SUFFIXES:
            candidate = root / subdir / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def check_potcars(functional: str, symbols: Iterable[str]) -> Path:
    """Raise unless every POTCAR ``symbols`` needs for ``functional`` can be found.

    Returns
    -------
    Path
        The POTCAR root directory.

    Raises
    ------
    InputError
        No POTCAR directory configured, or files missing, in one line naming the fix.
    """
    root = psp_dir()
    if root is None:
        raise InputError(
            f"no VASP POTCAR directory configured: set {PSP_ENV} (or {PSP_ENV} in "
            "~/.config/.pmgrc.yaml) to the directory holding POT_GGA_PAW_PBE/ etc."
        )
    if not root.is_dir():
        raise InputError(f"{PSP_ENV}={root} is not a directory: point it at your POTCAR root")
    missing = [s for s in dict.fromkeys(symbols) if potcar_path(root, functional, s) is None]
    if missing:
        raise InputError(
            f"POTCARs {', '.join(missing)} for functional {functional} not found under {root}: "
            f"install them or fix {PSP_ENV}"
        )
    return root
