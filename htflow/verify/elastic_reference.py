"""Reference elastic tensors: loading, checking and selecting the entries of a reference file.

The shipped default ``data/mp_elastic_dev.json`` is a verbatim copy of the project's reference
file: PBE elastic tensors of five cubic crystals from the Materials Project elastic workflow
(VASP, PAW PBE). Its ``citation`` field travels with it: M. de Jong et al., "Charting the
complete elastic properties of inorganic crystalline compounds", Sci. Data 2, 150009 (2015),
doi:10.1038/sdata.2015.9; A. Jain et al., APL Mater. 1, 011002 (2013); data: Materials Project,
CC BY 4.0.

Any file of the same format can be checked the same way::

    {"citation": "...", "description": "...", "units": "...", "notes": [...],
     "materials": {"mp-134": {"formula": "Al", "elastic_tensor_voigt_GPa": [[...] x 6],
                              "K_Voigt_GPa": 83, "G_Voigt_GPa": 25, "cif": "data_Al ...",
                              "crystal_system": "cubic", "nsites": 1, "poisson_ratio": 0.37}}}

Tensors are 6×6 Voigt matrices in GPa in the IEEE frame; K and G are Voigt averages (GPa).
``crystal_system``, ``nsites`` and ``poisson_ratio`` are optional.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pymatgen.core import Composition, Structure

from htflow.exceptions import InputError

DATA_FILE = Path(__file__).parent / "data" / "mp_elastic_dev.json"
_FIX = "fix the file or pass another with --reference-file"


class ElasticReference(BaseModel):
    """One material of a reference file: its elastic tensor, Voigt moduli and structure."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, arbitrary_types_allowed=True)

    material_id: str = Field(description="The key of the entry in the file, e.g. 'mp-134'.")
    formula: str = Field(description="Reduced formula, e.g. 'GaAs'.")
    crystal_system: str | None = Field(None, description="Crystal system as the file gives it.")
    nsites: int | None = Field(None, description="Sites in the file's cell.")
    elastic_tensor: list[list[float]] = Field(
        alias="elastic_tensor_voigt_GPa",
        description="Elastic tensor, 6×6 Voigt matrix in the IEEE frame (GPa).",
    )
    k_voigt: float = Field(alias="K_Voigt_GPa", gt=0, description="Voigt bulk modulus (GPa).")
    g_voigt: float = Field(alias="G_Voigt_GPa", gt=0, description="Voigt shear modulus (GPa).")
    poisson_ratio: float | None = Field(None, description="Poisson ratio (dimensionless).")
    cif: str = Field(description="The structure as CIF text (Å).")
    structure: Structure = Field(description="The structure parsed from ``cif`` (Å).")

    @field_validator("elastic_tensor")
    @classmethod
    def _six_by_six(cls, value: list[list[float]]) -> list[list[float]]:
        if len(value) != 6 or any(len(row) != 6 for row in value):
            raise ValueError("must be a 6×6 matrix (Voigt notation, GPa)")
        return value

    @property
    def label(self) -> str:
        """Display name, e.g. ``mp-134 Al``."""
        return f"{self.material_id} {self.formula}"


class ElasticReferenceSet(BaseModel):
    """Every material of one reference file, with the file's citation."""

    model_config = ConfigDict(frozen=True)

    path: Path = Field(description="The file the references were read from.")
    citation: str = Field(description="Where the numbers come from; shown with every result.")
    description: str = Field("", description="The file's description.")
    units: str = Field("", description="The file's statement of units.")
    notes: list[str] = Field(default_factory=list, description="The file's notes.")
    materials: dict[str, ElasticReference] = Field(description="Entries by material id.")

    def select(self, names: list[str] | None) -> list[ElasticReference]:
        """The entries named by id (``mp-134``) or reduced formula (``GaAs``); None: all.

        A formula selects every entry with that reduced formula, in file order.

        Raises
        ------
        InputError
            A name that matches no entry (the message lists what the file has).
        """
        if not names:
            return list(self.materials.values())
        chosen: dict[str, ElasticReference] = {}
        for name in names:
            matches = self._matching(name)
            if not matches:
                have = ", ".join(ref.label for ref in self.materials.values())
                raise InputError(
                    f"no elastic reference for {name!r} in {self.path} (it has: {have}): name a "
                    "material id or formula from the file, or pass another with --reference-file"
                )
            chosen.update((ref.material_id, ref) for ref in matches)
        return list(chosen.values())

    def _matching(self, name: str) -> list[ElasticReference]:
        by_id = {key.lower(): ref for key, ref in self.materials.items()}
        if name.strip().lower() in by_id:
            return [by_id[name.strip().lower()]]
        formula = _reduced_formula(name)
        return [ref for ref in self.materials.values() if _reduced_formula(ref.formula) == formula]


def load_elastic_references(path: str | Path | None = None) -> ElasticReferenceSet:
    """Read and check a reference file; None reads the shipped development set.

    Raises
    ------
    InputError
        The file is missing or not JSON, a field is missing or malformed, a CIF does not parse
        or does not match its formula. The message names the file, the material and the field.
    """
    file = Path(path).expanduser() if path is not None else DATA_FILE
    if not file.is_file():
        raise InputError(
            f"reference file {file} not found: pass an existing file with --reference-file"
        )
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"reference file {file} is not JSON ({exc}): {_FIX}") from exc
    if not isinstance(data, dict):
        raise InputError(f"reference file {file}: expected a JSON object at the top: {_FIX}")
    for field in ("citation", "materials"):
        if field not in data:
            raise InputError(f"reference file {file}: field {field!r} missing: {_FIX}")
    materials = data["materials"]
    if not isinstance(materials, dict) or not materials:
        raise InputError(
            f"reference file {file}: field 'materials' must map material ids to entries: {_FIX}"
        )
    notes = data.get("notes", [])
    return ElasticReferenceSet(
        path=file,
        citation=str(data["citation"]),
        description=str(data.get("description", "")),
        units=str(data.get("units", "")),
        notes=[str(n) for n in notes] if isinstance(notes, list) else [str(notes)],
        materials={str(key): _entry(file, str(key), raw) for key, raw in materials.items()},
    )


def _entry(file: Path, material_id: str, raw: Any) -> ElasticReference:
    where = f"reference file {file}: material {material_id!r}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected an object with the entry's fields: {_FIX}")
    if "cif" not in raw:
        raise InputError(f"{where}: field 'cif' missing: {_FIX}")
    structure = _structure(where, raw["cif"])
    try:
        ref = ElasticReference.model_validate(
            {**raw, "material_id": material_id, "structure": structure}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"][:1]) or "?"
        problem = "missing" if error["type"] == "missing" else f"invalid ({error['msg']})"
        raise InputError(f"{where}: field {field!r} {problem}: {_FIX}") from exc
    if _reduced_formula(ref.formula) != structure.composition.reduced_formula:
        raise InputError(
            f"{where}: field 'formula' is {ref.formula!r} but the CIF holds "
            f"{structure.composition.reduced_formula}: {_FIX}"
        )
    return ref


def _structure(where: str, cif: Any) -> Structure:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen warns about rounded CIF occupancies
            structure = Structure.from_str(str(cif), fmt="cif")
    except Exception as exc:  # pymatgen raises ValueError, IndexError, KeyError … on bad CIFs
        raise InputError(f"{where}: field 'cif' does not parse as a CIF ({exc}): {_FIX}") from exc
    if not structure.is_ordered:
        raise InputError(f"{where}: field 'cif' is a disordered structure: {_FIX}")
    return structure


def _reduced_formula(formula: str) -> str | None:
    try:
        return Composition(formula.strip()).reduced_formula
    except Exception:  # not a formula at all: matches nothing
        return None


__all__ = ["DATA_FILE", "ElasticReference", "ElasticReferenceSet", "load_elastic_references"]
