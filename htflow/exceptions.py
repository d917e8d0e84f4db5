"""The exceptions htflow raises for bad input and unrecoverable runs.

Every message is one line that names the problem and what to do about it.
"""

from __future__ import annotations


class HtflowError(Exception):
    """Base class: a problem the user can fix, reported in one line."""


class InputError(HtflowError):
    """Invalid user input (structure, protocol, override, pseudo family)."""


class PseudoFamilyError(HtflowError):
    """A pseudopotential family is missing, incomplete or corrupted."""


class CalculationFailedError(HtflowError):
    """A calculation failed in a way the error handlers cannot repair."""


class WalltimeExhaustedError(CalculationFailedError):
    """The allocation ran out of time; the run is prepared to continue in the next one."""
