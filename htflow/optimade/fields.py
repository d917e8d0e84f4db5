"""Which OPTIMADE field is which materials field, and how a filter on it can be answered.

Four kinds of ``structures`` fields (see docs/optimade.md, "Fields"):

- **stored**: a field of the materials document under another name (``id`` is
  ``material_id``, ``_htflow_band_gap`` is ``band_gap``, ``_htflow_quality_elastic`` is
  ``quality.elastic``). A filter on it goes to the store as it is.
- **composition**: a function of the reduced composition (``chemical_formula_reduced``,
  ``chemical_formula_anonymous``, ``elements_ratios``). A filter on it is evaluated on the
  store's distinct reduced formulas and becomes ``formula_reduced`` ∈ {the ones that match}.
- **constant**: the same for every material (``nperiodic_dimensions`` = 3), or never served
  (null for every material: ``chemical_formula_hill``, the space-group fields, another
  provider's fields). A filter on it is true or false for all.
- **sites**: per-site arrays (``species_at_sites``, ``cartesian_site_positions`` …): served,
  not filterable (501 Not Implemented, which OPTIMADE allows for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from htflow.db.materials import MaterialDoc
from htflow.quality.schema import QUALITY_PROPERTIES

PROVIDER_PREFIX = "htflow"
PROJECT_REFERENCE_ID = "htflow"


@dataclass(frozen=True)
class ProviderField:
    """One ``_htflow_`` field of the structures endpoint."""

    name: str  # without the prefix
    materials_field: str  # dotted path in the materials document
    optimade_type: str  # OPTIMADE data type: float, string
    unit: str | None  # None: dimensionless or a label

    @property
    def optimade_name(self) -> str:
        """``_htflow_<name>``."""
        return f"_{PROVIDER_PREFIX}_{self.name}"

    def description(self) -> str:
        """The materials schema's own description of the field (its unit included)."""
        head = self.materials_field.split(".", 1)[0]
        if head == "quality":
            key = self.materials_field.split(".", 1)[1]
            covers = ", ".join(QUALITY_PROPERTIES[key])
            return (
                f"Quality of the {key} property ({covers}): 'verified', 'checked' or "
                "'suspect' (see docs/ml_access.md); null when the material lacks the property."
            )
        return MaterialDoc.model_fields[head].description or head


PROVIDER_FIELDS: tuple[ProviderField, ...] = (
    ProviderField("energy_per_atom", "energy_per_atom", "float", "eV/atom"),
    ProviderField("formation_energy_per_atom", "formation_energy_per_atom", "float", "eV/atom"),
    ProviderField("energy_above_hull", "energy_above_hull", "float", "eV/atom"),
    ProviderField("band_gap", "band_gap", "float", "eV"),
    ProviderField("efermi", "efermi", "float", "eV"),
    ProviderField("total_magnetization", "total_magnetization", "float", "μB"),
    ProviderField("k_vrh", "k_vrh", "float", "GPa"),
    ProviderField("g_vrh", "g_vrh", "float", "GPa"),
    ProviderField("poisson_ratio", "poisson_ratio", "float", None),
    ProviderField("universal_anisotropy", "universal_anisotropy", "float", None),
    ProviderField("eos_v0", "eos_v0", "float", "Å^3/atom"),
    ProviderField("eos_b0", "eos_b0", "float", "GPa"),
    ProviderField("eos_b1", "eos_b1", "float", None),
    ProviderField("density", "density", "float", "g/cm^3"),
    ProviderField("volume_per_atom", "volume_per_atom", "float", "Å^3/atom"),
    *(
        ProviderField(f"quality_{key}", f"quality.{key}", "string", None)
        for key in QUALITY_PROPERTIES
    ),
    ProviderField("code", "code", "string", None),
    ProviderField("protocol", "protocol", "string", None),
    ProviderField("pseudo_family", "pseudo_family", "string", None),
)

# Standard fields stored in the materials document under these names.
STORED_ALIASES: dict[str, str] = {
    "id": "material_id",
    "elements": "elements",
    "nelements": "nelements",
    "nsites": "nsites",
    "chemical_formula_descriptive": "formula",
    "last_modified": "provenance.last_updated",
}
# Standard fields that are a function of the reduced composition.
COMPOSITION_FIELDS = ("chemical_formula_reduced", "chemical_formula_anonymous", "elements_ratios")
# Standard fields with one value for every material (periodic, ordered crystals).
CONSTANT_FIELDS: dict[str, Any] = {
    "nperiodic_dimensions": 3,
    "dimension_types": [1, 1, 1],
    "structure_features": [],
}
# Served per site: filters on them answer 501 (their queries are OPTIONAL in OPTIMADE).
SITE_FIELDS = (
    "species_at_sites",
    "species",
    "cartesian_site_positions",
    "lattice_vectors",
    "assemblies",
)
# The materials field a composition filter becomes, and which the sort on a field uses.
FORMULA_FIELD = "formula_reduced"


def aliases() -> dict[str, str]:
    """OPTIMADE field → materials field, for ``ServerConfig(aliases=...)``."""
    out = dict(STORED_ALIASES)
    out.update({f.optimade_name: f.materials_field for f in PROVIDER_FIELDS})
    return out


def provider_field_descriptions() -> list[dict[str, Any]]:
    """The ``_htflow_`` fields as ``ServerConfig(provider_fields=...)`` describes them in
    ``/info/structures`` (type, unit, description, sortable)."""
    out = []
    for field in PROVIDER_FIELDS:
        entry: dict[str, Any] = {
            "name": field.name,
            "type": field.optimade_type,
            "description": field.description(),
            "sortable": True,
        }
        if field.unit is not None:
            entry["unit"] = field.unit
        out.append(entry)
    return out


def sortable_fields() -> dict[str, str]:
    """OPTIMADE field → materials field, for the fields a response can be sorted by."""
    out = {k: v for k, v in STORED_ALIASES.items() if k != "elements"}
    out.update({f.optimade_name: f.materials_field for f in PROVIDER_FIELDS})
    return out
