"""Which code, protocol and pseudo family a task document was computed with.

Task documents do not (yet) name their protocol, so it is recovered from the input: the
pseudo family from the pseudopotential md5s, the protocol from the cutoffs and smearing that
each protocol would have written for the same elements. Inputs that match nothing get
``custom-<hash>`` of the settings that decide the energy, so energies from different settings
still never mix. An explicit ``metadata`` (``protocol``, ``pseudo_family``) on the job wins.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

CODE_QE = "qe"


@dataclass(frozen=True)
class CalcIdentity:
    """The part of a material's identity that is not the structure."""

    code: str
    protocol: str
    pseudo_family: str


def task_identity(task: dict[str, Any], metadata: dict[str, Any] | None = None) -> CalcIdentity:
    """The identity of a PwTaskDoc (as stored: a dict).

    Parameters
    ----------
    task
        The task document (the job's ``output``).
    metadata
        The job's metadata; ``protocol`` and ``pseudo_family`` there override inference.
    """
    metadata = metadata or {}
    summary = task.get("input") or {}
    pw_input = summary.get("pw_input") or {}
    md5s = {
        p["element"]: p.get("md5") or "" for p in summary.get("pseudos") or [] if "element" in p
    }
    family = (
        metadata.get("pseudo_family")
        or summary.get("pseudo_family")
        or pw_input.get("pseudo_family")
    )
    if not family:
        family = _family_from_md5(tuple(sorted(md5s.items())))
    protocol = (
        metadata.get("protocol")
        or pw_input.get("protocol")
        or _protocol_from_input(pw_input, family)
    )
    return CalcIdentity(CODE_QE, str(protocol), str(family))


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]


@cache
def _family_md5_tables() -> dict[str, dict[str, str]]:
    from htflow.qe.pseudos import list_pseudo_families

    tables = {}
    for family in list_pseudo_families():
        tables[family.name] = {el: e.md5 or "" for el, e in family.pseudos.items()}
    return tables


@cache
def _family_from_md5(md5s: tuple[tuple[str, str], ...]) -> str:
    try:
        tables = _family_md5_tables()
    except Exception:
        tables = {}
    for name, table in sorted(tables.items()):
        if md5s and all(md5 and table.get(el) == md5 for el, md5 in md5s):
            return name
    return "custom-" + _digest(md5s)


def _protocol_from_input(pw_input: dict[str, Any], family: str) -> str:
    system = pw_input.get("system") or {}
    elements = tuple(sorted({s["symbol"] for s in pw_input.get("species") or []}))
    smearing = system.get("occupations") == "smearing"
    for name, expected in _protocol_signatures(family, elements).items():
        # a DOS run (tetrahedra) has no degauss: cutoffs alone decide for it
        checks = {k: v for k, v in expected.items() if smearing or k != "degauss"}
        if all(_same(system.get(k), v) for k, v in checks.items()):
            return name
    # nscf runs change occupations and smearing, so those stay out of the hash
    deciding = {k: system.get(k) for k in ("ecutwfc", "ecutrho", "nspin", "input_dft")}
    return "custom-" + _digest(deciding)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b


@cache
def _protocol_signatures(family: str, elements: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """What each protocol writes for these elements: cutoffs, occupations, smearing."""
    from htflow.qe.pseudos import get_pseudo_family
    from htflow.qe.sets import available_protocols, load_protocol

    try:
        fam = get_pseudo_family(family)
    except Exception:
        return {}
    if not elements or any(el not in fam.pseudos for el in elements):
        return {}
    signatures = {}
    for name in available_protocols():
        protocol = load_protocol(name)
        entries = [fam.pseudos[el] for el in elements]
        expected: dict[str, Any] = {
            "ecutwfc": _round(max(e.cutoff_wfc for e in entries) * protocol.cutoff_scale),
            "ecutrho": _round(max(e.cutoff_rho for e in entries) * protocol.cutoff_scale),
        }
        if protocol.occupations == "smearing":
            expected["degauss"] = protocol.degauss
        signatures[name] = expected
    return signatures


def _round(value: float) -> float:
    # the same rounding as htflow.qe.sets.generators writes into pw.in
    return float(f"{value:.6g}")
