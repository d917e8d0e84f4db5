"""Handler for a gapped system whose smeared SCF stopped at a band edge (``smearing_in_gap``).

Detection (:mod:`htflow.qe.occupation_checks`) found a gap wider than the smearing spans, so
the smeared answer should equal the fixed-occupation one, yet −TS ≠ 0 or E_F lies outside
the gap: pw.x's Fermi-level search stopped at a root at a band edge, which the
non-monotonic cold (Marzari–Vanderbilt) occupations allow. Fixed occupations have no Fermi
level to search; Gaussian occupations are monotonic, so their only root lies in the gap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from htflow.qe.errors import PwError
from htflow.qe.handlers.base import (
    Changes,
    PwErrorHandler,
    electronic_restart,
    merge,
    number_of_bands,
    update_action,
)
from htflow.qe.occupation_checks import counted_magnetization
from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PwRunDir


class SmearingHandler(PwErrorHandler):
    """Rerun a gapped system without the smearing artefact: fixed or Gaussian occupations.

    Without spin polarization the 1st correction sets ``occupations='fixed'`` (removing
    ``smearing`` and ``degauss``) and keeps ``nbnd`` at the count pw.x used, so that the
    conduction band and the gap stay in the results. With ``nspin=2``, where 'fixed' needs
    ``tot_magnetization``, it switches to Gaussian smearing of at most ``gaussian_degauss``
    (Ry). A 2nd call takes the other route: Gaussian for ``nspin=1``; for ``nspin=2`` fixed
    occupations with ``tot_magnetization`` = N_up − N_down counted from the run's
    occupations (whole numbers in a gapped system). Then it gives up. An scf restarts from
    its charge density, a relaxation from its final structure.
    """

    handles = frozenset({PwError.SMEARING_IN_GAP})

    def __init__(self, gaussian_degauss: float = 0.005, max_num_corrections: int = 2):
        super().__init__(max_num_corrections)
        self.gaussian_degauss = gaussian_degauss
        self._calls = 0

    def correct(self, directory: str | Path = "./") -> dict[str, Any]:
        """Switch the occupations as described above and restart."""
        self._calls += 1
        pw_input = PwInput.from_directory(directory)
        spin_polarized = int(pw_input.system.get("nspin", 1)) == 2
        routes = ("gaussian", "fixed") if spin_polarized else ("fixed", "gaussian")
        if self._calls > len(routes):
            return self.corrected(directory, [])
        route = routes[self._calls - 1]
        if route == "fixed":
            changes = self._fixed(directory, pw_input, spin_polarized)
            what = "fixed occupations"
        else:
            changes = self._gaussian(pw_input)
            what = f"gaussian smearing of {changes['system']['degauss']} Ry"
        if changes is None:
            return self.corrected(directory, [])
        structure, restart, how = electronic_restart(directory, pw_input, wavefunctions=False)
        update = update_action(
            pw_input,
            merge(restart, changes),
            f"gapped system with a smearing artefact (-TS != 0 or E_F outside the gap, "
            f"correction {self._calls}): {what}, restart {how}",
        )
        return self.corrected(directory, [*structure, update] if update else structure)

    def _fixed(self, directory: str | Path, pw_input: PwInput, spin: bool) -> Changes | None:
        system: dict[str, Any] = {"occupations": "fixed", "smearing": None, "degauss": None}
        nbnd = number_of_bands(directory, pw_input)
        if nbnd is not None:
            system["nbnd"] = nbnd
        if spin:
            xml = PwRunDir(directory).data_file_xml(pw_input.control)
            magnetization = counted_magnetization(xml)
            if magnetization is None:
                return None  # no whole moment to fix: nothing safe left to try
            system["tot_magnetization"] = magnetization
        return {"system": system}

    def _gaussian(self, pw_input: PwInput) -> Changes:
        current = pw_input.system.get("degauss")
        degauss = self.gaussian_degauss
        if isinstance(current, int | float) and not isinstance(current, bool) and current > 0:
            degauss = min(degauss, float(current))
        system: dict[str, Any] = {
            "occupations": "smearing",
            "smearing": "gaussian",
            "degauss": degauss,
        }
        return {"system": system}
