"""Fake POTCAR directories for tests: headers pymatgen can parse, no pseudopotential data.

Real POTCARs are licensed and never shipped. pymatgen only needs the PSCTR header of a
POTCAR to write VASP inputs (symbol, functional from LEXCH, ZVAL for the electron count,
ENMAX), so a tree of such headers under ``<root>/<functional dir>/POTCAR.<symbol>`` lets
atomate2 write real inputs. pymatgen warns that the files are unknown; that is expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

_LEXCH = {"PBE": "PE", "LDA": "CA", "PW91": "91"}


def fake_potcar_text(symbol: str, functional: str = "PBE") -> str:
    """A POTCAR header for ``symbol`` that pymatgen's PotcarSingle parses."""
    from pymatgen.core import Element

    element = Element(symbol.split("_", maxsplit=1)[0])
    # Valence: the electrons outside the noble-gas core (a plausible ZVAL, not VASP's table).
    zval = element.Z - max((z for z in (0, 2, 10, 18, 36, 54, 86) if z < element.Z), default=0)
    lexch = _LEXCH.get(functional.split("_", maxsplit=1)[0], "PE")
    return (
        f"  PAW_{functional.split('_', maxsplit=1)[0]} {symbol} 01Jan2000\n"
        f"{float(zval):.11f}\n"
        " parameters from PSCTR are:\n"
        f"   VRHFIN ={element.symbol}: fake\n"
        f"   LEXCH  = {lexch}\n"
        "   EATOM  =     0.0000 eV,    0.0000 Ry\n\n"
        f"   TITEL  = PAW_{functional.split('_', maxsplit=1)[0]} {symbol} 01Jan2000\n"
        "   LULTRA =        F    use ultrasoft PP ?\n"
        f"   POMASS =  {float(element.atomic_mass):.3f}; ZVAL   =   {float(zval):.3f}"
        "    mass and valenz\n"
        "   ENMAX  =  400.000; ENMIN  =  300.000 eV\n"
        "   RCORE  =    2.000    outmost cutoff radius\n"
        " END of PSCTR-controll parameters\n"
        # pymatgen's validity statistics need some numbers after the header.
        " local part\n"
        "  0.000000000E+00  0.000000000E+00  0.000000000E+00\n"
        " End of Dataset\n"
    )


def make_fake_psp_dir(root: Path, symbols: Iterable[str], functional: str = "PBE") -> Path:
    """Write fake POTCARs for ``symbols`` under ``root`` in pymatgen's layout; returns root."""
    from pymatgen.io.vasp.inputs import PotcarSingle

    subdir = root / PotcarSingle.functional_dir[functional]
    subdir.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        (subdir / f"POTCAR.{symbol}").write_text(fake_potcar_text(symbol, functional))
    return root
