"""What the checks read from a stored task document, the same for pw.x and VASP runs.

A :class:`TaskView` is built from the task document as stored (a dict: htflow's
``PwTaskDoc`` or atomate2/emmet's VASP ``TaskDoc``). Fields a document does not have stay
None, and the checks that need them are skipped: VASP task documents carry no sampling
record, nor −TS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Scalar = str | float | int | bool | None


@dataclass(frozen=True)
class TaskView:
    """The numbers of one run that its quality depends on (eV, Ry as named)."""

    code: str
    nsites: int
    calculation: str | None = None
    mesh: tuple[int, int, int] | None = None
    is_metal: bool | None = None
    band_gap: float | None = None
    efermi: float | None = None
    homo: float | None = None
    lumo: float | None = None
    scf_converged: bool | None = None
    ionic_converged: bool | None = None
    smearing: bool = False
    minus_ts_ev: float | None = None
    settings: dict[str, Scalar] = field(default_factory=dict)

    @property
    def kpoints_per_atom(self) -> int | None:
        """Sites × n1 × n2 × n3 of the mesh (None without a regular mesh)."""
        if self.mesh is None:
            return None
        return self.nsites * self.mesh[0] * self.mesh[1] * self.mesh[2]

    @property
    def mesh_label(self) -> str:
        """``6×6×6`` (``?`` without a regular mesh)."""
        return "×".join(str(n) for n in self.mesh) if self.mesh else "?"

    @property
    def is_gapped(self) -> bool:
        """An insulator with a known positive gap and both band edges."""
        return (
            self.is_metal is False
            and (self.band_gap or 0.0) > 0
            and self.homo is not None
            and self.lumo is not None
        )


def task_view(task: dict[str, Any]) -> TaskView:
    """The :class:`TaskView` of a stored task document (the job's ``output``)."""
    if task.get("@class") == "TaskDoc" or "calcs_reversed" in task:
        return _vasp_view(task)
    return _pw_view(task)


def _mesh(value: Any) -> tuple[int, int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 3:
        return (int(value[0]), int(value[1]), int(value[2]))
    return None


def _nsites(task: dict[str, Any], symbols: list[Any] | None = None) -> int:
    if symbols:
        return len(symbols)
    structure = task.get("structure") or (task.get("output") or {}).get("structure") or {}
    return int(task.get("nsites") or len(structure.get("sites") or []) or 1)


def _pw_view(task: dict[str, Any]) -> TaskView:
    pw_input = (task.get("input") or {}).get("pw_input") or {}
    out = task.get("output") or {}
    system = pw_input.get("system") or {}
    electrons = pw_input.get("electrons") or {}
    kpoints = pw_input.get("kpoints") or {}
    mode = kpoints.get("mode", "automatic")
    mesh = _mesh(kpoints.get("mesh")) if mode == "automatic" else None
    if mode == "gamma":
        mesh = (1, 1, 1)
    nsites = _nsites(task, pw_input.get("symbols"))
    smearing = system.get("occupations") == "smearing"
    minus_ts = out.get("smearing_contribution")
    if minus_ts is None and smearing:
        free, no_smearing = out.get("free_energy"), out.get("energy_no_smearing")
        if free is not None and no_smearing is not None:
            # energy_no_smearing = F - (-TS)/2, so -TS = 2 (F - energy_no_smearing)
            minus_ts = 2.0 * (free - no_smearing)
    sampling = pw_input.get("sampling") or {}
    settings: dict[str, Scalar] = {
        "calculation": task.get("calculation"),
        "kpoints_mesh": "×".join(str(n) for n in mesh) if mesh else mode,
        "kpoints_per_atom": nsites * mesh[0] * mesh[1] * mesh[2] if mesh else None,
        "occupations": system.get("occupations"),
        "smearing": system.get("smearing") if smearing else None,
        "degauss_ry": system.get("degauss") if smearing else None,
        "ecutwfc_ry": system.get("ecutwfc"),
        "ecutrho_ry": system.get("ecutrho"),
        "conv_thr_ry": electrons.get("conv_thr"),
        "protocol": pw_input.get("protocol"),
    }
    if sampling:
        settings["sampling_property"] = sampling.get("property")
        protocol_mesh = _mesh(sampling.get("protocol_mesh"))
        if protocol_mesh:
            settings["protocol_kpoints_mesh"] = "×".join(str(n) for n in protocol_mesh)
    return TaskView(
        code="qe",
        nsites=nsites,
        calculation=task.get("calculation"),
        mesh=mesh,
        is_metal=out.get("is_metal"),
        band_gap=out.get("band_gap"),
        efermi=out.get("efermi"),
        homo=out.get("homo"),
        lumo=out.get("lumo"),
        scf_converged=out.get("scf_converged"),
        ionic_converged=out.get("ionic_converged"),
        smearing=smearing,
        minus_ts_ev=minus_ts if _finite(minus_ts) else None,
        settings={k: v for k, v in settings.items() if v is not None},
    )


def _vasp_view(task: dict[str, Any]) -> TaskView:
    summary = task.get("input") or {}
    incar = summary.get("incar") or summary.get("parameters") or {}
    kpoints = summary.get("kpoints") or {}
    style = str(kpoints.get("generation_style") or "").lower()
    mesh = None
    if style.startswith(("gamma", "monkhorst")) and kpoints.get("kpoints"):
        mesh = _mesh(kpoints["kpoints"][0])
    nsites = _nsites(task)
    last = ((task.get("calcs_reversed") or [{}])[0].get("output")) or {}
    gap = (task.get("output") or {}).get("bandgap", last.get("bandgap"))
    ismear = incar.get("ISMEAR")
    settings: dict[str, Scalar] = {
        "task_type": task.get("task_type"),
        "kpoints_mesh": "×".join(str(n) for n in mesh) if mesh else (style or None),
        "kpoints_per_atom": nsites * mesh[0] * mesh[1] * mesh[2] if mesh else None,
        "ismear": ismear,
        "sigma_ev": incar.get("SIGMA"),
        "encut_ev": incar.get("ENCUT"),
        "ediff_ev": incar.get("EDIFF"),
    }
    return TaskView(
        code="vasp",
        nsites=nsites,
        calculation=task.get("task_type"),
        mesh=mesh,
        is_metal=last.get("is_metal", None if gap is None else gap <= 0),
        band_gap=gap,
        efermi=last.get("efermi"),
        homo=last.get("vbm"),
        lumo=last.get("cbm"),
        smearing=ismear is not None and int(ismear) >= -1,
        settings={k: v for k, v in settings.items() if v is not None},
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
