"""Which materials fields an active campaign may optimise or constrain, and which workflows
compute them.

Every workflow starts with the same vc-relaxation (``htflow.qe.workflows.starting_relax``),
and the builder takes a material's energy, structure, band gap, Fermi level and
magnetization from its latest unstrained energy task: the static SCF when
``relax_static_dos`` or ``band_structure`` ran, otherwise the vc-relaxation's last SCF
(``htflow.builders.assemble``). So those fields exist whichever workflow runs; a band gap
that must be accurate wants ``relax_static_dos`` (its DOS run's denser grid gives the gap).
The DOS summary needs a uniform non-SCF run (``relax_static_dos``, ``band_structure``), the
elastic moduli the ``elastic`` workflow and the Birch-Murnaghan fit the ``eos`` workflow.
"""

from __future__ import annotations

from htflow.exceptions import InputError

WORKFLOWS = frozenset({"relax_static_dos", "band_structure", "elastic", "eos"})
_DOS_WORKFLOWS = frozenset({"relax_static_dos", "band_structure"})

# Numeric (or boolean, read as 0/1) fields of the materials document, with their units.
FIELD_UNITS: dict[str, str] = {
    "energy_per_atom": "eV/atom",
    "formation_energy_per_atom": "eV/atom",
    "energy_above_hull": "eV/atom",
    "is_stable": "",
    "volume": "Å³",
    "volume_per_atom": "Å³/atom",
    "density": "g/cm³",
    "nsites": "",
    "band_gap": "eV",
    "is_metal": "",
    "efermi": "eV",
    "total_magnetization": "μB",
    "dos.dos_at_efermi": "states/eV",
    "dos.vbm": "eV",
    "dos.cbm": "eV",
    "dos.gap": "eV",
    "k_vrh": "GPa",
    "g_vrh": "GPa",
    "poisson_ratio": "",
    "universal_anisotropy": "",
    "eos_v0": "Å³/atom",
    "eos_b0": "GPa",
    "eos_b1": "",
}

_EVERY_WORKFLOW = (
    "energy_per_atom",
    "formation_energy_per_atom",
    "energy_above_hull",
    "is_stable",
    "volume",
    "volume_per_atom",
    "density",
    "nsites",
    "band_gap",
    "is_metal",
    "efermi",
    "total_magnetization",
)

OBJECTIVE_FIELDS: dict[str, frozenset[str]] = {
    **{name: WORKFLOWS for name in _EVERY_WORKFLOW},
    **{name: _DOS_WORKFLOWS for name in ("dos.dos_at_efermi", "dos.vbm", "dos.cbm", "dos.gap")},
    **{
        name: frozenset({"elastic"})
        for name in ("k_vrh", "g_vrh", "poisson_ratio", "universal_anisotropy")
    },
    **{name: frozenset({"eos"}) for name in ("eos_v0", "eos_b0", "eos_b1")},
}


def unit_of(field: str) -> str:
    """The unit of an objective field ('' for dimensionless numbers and flags)."""
    return FIELD_UNITS.get(field, "")


def check_field(field: str, workflows: list[str], role: str = "objective") -> None:
    """Raise InputError when ``field`` is unknown or none of ``workflows`` computes it.

    Parameters
    ----------
    field
        A materials-document field (dotted for the DOS summary: ``dos.gap``).
    workflows
        The names of the campaign's workflows.
    role
        'objective' or 'constraint', for the message.
    """
    if field not in OBJECTIVE_FIELDS:
        choices = ", ".join(sorted(OBJECTIVE_FIELDS))
        raise InputError(f"unknown {role} field {field!r}: use one of {choices}")
    if not OBJECTIVE_FIELDS[field] & set(workflows):
        needed = " or ".join(repr(w) for w in sorted(OBJECTIVE_FIELDS[field]))
        raise InputError(
            f"{role} {field!r} needs workflow {needed}, which the campaign does not run: "
            "add it to workflow:"
        )
