"""Which code, protocol and pseudo family a task document was computed with.

Two kinds of task document are understood: htflow's ``PwTaskDoc`` (code ``qe``) and
atomate2/emmet's VASP ``TaskDoc`` (code ``vasp``, see :func:`vasp_task_identity`).

QE task documents do not always name their protocol, so it is recovered from the input: the
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
CODE_VASP = "vasp"
VASP_TASK_CLASS = "TaskDoc"


@dataclass(frozen=True)
class CalcIdentity:
    """The part of a material's identity that is not the structure."""

    code: str
    protocol: str
    pseudo_family: str


def is_vasp_task(task: dict[str, Any]) -> bool:
    """Whether a stored task document is atomate2/emmet's VASP ``TaskDoc``."""
    return task.get("@class") == VASP_TASK_CLASS or "calcs_reversed" in task


def task_identity(task: dict[str, Any], metadata: dict[str, Any] | None = None) -> CalcIdentity:
    """The identity of a PwTaskDoc or a VASP TaskDoc (as stored: a dict).

    Parameters
    ----------
    task
        The task document (the job's ``output``).
    metadata
        The job's metadata; ``protocol`` and ``pseudo_family`` there override inference.
    """
    metadata = metadata or {}
    if is_vasp_task(task):
        return vasp_task_identity(task, metadata)
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


def vasp_task_identity(
    task: dict[str, Any], metadata: dict[str, Any] | None = None
) -> CalcIdentity:
    """The identity of an atomate2/emmet VASP ``TaskDoc`` (as stored: a dict).

    The pseudo family is the POTCAR set (``PAW_PBE``, from the POTCAR titles). The protocol is
    the job's ``metadata["protocol"]`` (htflow's VASP flows set it), else the htflow VASP
    protocol whose relax or static settings wrote this INCAR (ENCUT, EDIFF per atom, Hubbard
    U), else ``custom-<hash>`` of those settings.
    """
    metadata = metadata or {}
    summary = task.get("input") or {}
    types = sorted({str(t) for t in summary.get("potcar_type") or [] if t})
    family = metadata.get("pseudo_family") or ("+".join(types) if types else "unknown-potcar")
    incar = summary.get("incar") or summary.get("parameters") or {}
    nsites = int(task.get("nsites") or len((task.get("structure") or {}).get("sites") or []) or 1)
    hubbards = {str(k): float(v) for k, v in (summary.get("hubbards") or {}).items()}
    elements = tuple(sorted(str(e) for e in task.get("elements") or hubbards))
    protocol = metadata.get("protocol") or _vasp_protocol_from_incar(
        incar, nsites, elements, hubbards
    )
    return CalcIdentity(CODE_VASP, str(protocol), str(family))


def _vasp_protocol_from_incar(
    incar: dict[str, Any], nsites: int, elements: tuple[str, ...], hubbards: dict[str, float]
) -> str:
    encut, ediff = incar.get("ENCUT"), incar.get("EDIFF")
    u_used = {el: u for el, u in hubbards.items() if u}
    for name, signatures in _vasp_signatures(elements).items():
        for expected in signatures:
            if (
                _same(encut, expected["ENCUT"])
                and ediff is not None
                and _same(float(ediff) / nsites, expected["EDIFF_PER_ATOM"])
                and u_used == expected["U"]
            ):
                return name
    per_atom = None if ediff is None else float(f"{float(ediff) / nsites:.6g}")
    deciding = {
        "ENCUT": encut,
        "EDIFF_PER_ATOM": per_atom,
        "GGA": incar.get("GGA"),
        "METAGGA": incar.get("METAGGA"),
        "U": u_used,
    }
    return "custom-" + _digest(deciding)


@cache
def _vasp_signatures(elements: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Per htflow VASP protocol: ENCUT, EDIFF per atom and Hubbard U its relax/static write."""
    try:
        from htflow.vasp.flows import base_config
        from htflow.vasp.protocol import available_protocols, load_protocol
    except ImportError:  # the VASP layer (atomate2) is optional
        return {}
    signatures: dict[str, list[dict[str, Any]]] = {}
    for name in available_protocols():
        protocol = load_protocol(name)
        base = base_config(protocol).get("INCAR", {})
        u = _mp_hubbard_u(base, elements)
        signatures[name] = []
        for settings in (protocol.relax, protocol.static):
            incar = {**base, **settings.incar}
            per_atom = incar.get("EDIFF_PER_ATOM")
            if per_atom is None and incar.get("EDIFF") is None:
                continue
            signatures[name].append(
                {
                    "ENCUT": incar.get("ENCUT"),
                    # an absolute EDIFF in a protocol cannot be told from a per-atom one
                    "EDIFF_PER_ATOM": per_atom,
                    "U": u,
                }
            )
        signatures[name] = [s for s in signatures[name] if s["EDIFF_PER_ATOM"] is not None]
    return signatures


def _mp_hubbard_u(incar: dict[str, Any], elements: tuple[str, ...]) -> dict[str, float]:
    """The non-zero U values pymatgen's sets give these elements (keyed by the anion)."""
    if not incar.get("LDAU", False):
        return {}
    from pymatgen.core import Element

    table = incar.get("LDAUU") or {}
    if not elements:
        return {}
    anion = max(elements, key=lambda el: Element(el).X)
    values = table.get(anion) or {}
    return {el: float(values[el]) for el in elements if values.get(el)}
