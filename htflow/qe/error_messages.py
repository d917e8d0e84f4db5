"""One line saying why a pw.x run failed, from what :mod:`htflow.qe.errors` detected.

The words a user reads in a FIZZLE, a ``CalculationFailedError`` or ``htflow verify``'s
table: which file, which key, which pseudopotential, and what to do. Detection stays in
:mod:`htflow.qe.errors`; this module only words its findings.
"""

from __future__ import annotations

import re
from pathlib import Path

from htflow.qe.errors import PwError, scan_run
from htflow.qe.rundir import PwRunDir


def explain(directory: str | Path = ".") -> str:
    """Return a one-line explanation of the failure (empty string when none was detected)."""
    scan = scan_run(Path(directory))
    if not scan.errors:
        return ""
    if PwError.MISSING_PSEUDO in scan.errors:
        # pw.x names its fallback directory, not pseudo_dir, so only the file name helps.
        match = re.search(r"([^\s/]+\.(?:upf|UPF|psp8|vdb|van|RRKJ3))", scan.crash_message)
        name = match.group(1) if match else "a pseudopotential file"
        return (
            f"pw.x could not read pseudopotential {name} (Error in routine readpp): "
            "check pseudo_dir and the family registration"
        )
    if PwError.BAD_NAMELIST in scan.errors:
        bad = re.search(r'namelist &(\w+): "(.*)"', scan.crash_message)
        keys = re.findall(r"([A-Za-z_]\w*)\s*=", bad.group(2)) if bad else []
        if bad and len(keys) == 1:
            return (
                f"pw.x rejected key {keys[0]!r} in &{bad.group(1).upper()} (Error in routine "
                "read_namelists): remove it or correct its spelling"
            )
        return (
            f"pw.x rejected the input namelists (Error in routine read_namelists: "
            f"{scan.crash_message}): remove or correct the offending key"
        )
    if PwError.GHOST_STATE in scan.errors:
        files = ", ".join(_pseudo_files(Path(directory))) or "the input's pseudopotentials"
        return (
            f"{scan.messages[-1]}: one of {files} binds a spurious deep state; no setting "
            "can repair it: use another pseudopotential family for these elements"
        )
    if PwError.UNKNOWN_CRASH in scan.errors:
        if scan.crash_routine:
            return f"pw.x stopped with Error in routine {scan.crash_routine}: {scan.crash_message}"
        return "pw.x stopped without a known message: " + (
            "; ".join(scan.messages) or "no JOB DONE and no error text in pw.out, CRASH or pw.err"
        )
    names = ", ".join(sorted(error.value for error in scan.errors))
    detail = "; ".join(scan.messages[:3])
    return f"pw.x run failed ({names})" + (f": {detail}" if detail else "")


def _pseudo_files(directory: Path) -> list[str]:
    """The pseudopotential file names of the run's input (pw_input.json), in input order."""
    data = PwRunDir(directory).input_data()
    species = data.get("species") if isinstance(data, dict) else None
    return [str(s["filename"]) for s in species or [] if isinstance(s, dict) and "filename" in s]


__all__ = ["explain"]
