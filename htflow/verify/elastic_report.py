"""The elastic check's table (rich) and JSON document."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from htflow.quality.schema import PropertyQuality
    from htflow.verify.elastic_metrics import ElasticAcceptance
    from htflow.verify.elastic_reference import ElasticReferenceSet
    from htflow.verify.elastic_runner import ElasticVerifyResult

ELASTIC_UNITS = {
    "elastic_tensor": "GPa (6×6 Voigt, IEEE frame)",
    "reference_tensor": "GPa (6×6 Voigt, IEEE frame)",
    "components": "GPa",
    "max_abs_delta_cij": "GPa",
    "k_voigt": "GPa (Voigt average)",
    "g_voigt": "GPa (Voigt average)",
    "k_relative_error": "fraction",
    "g_relative_error": "fraction",
    "acceptance": "fraction",
    "ecutwfc": "Ry",
    "ecutrho": "Ry",
    "core_seconds": "s (pw.x CPU time × ranks)",
    "elapsed_seconds": "s (wall)",
}
VERDICT_STYLE = {"within": "green", "outside": "red", "skipped": "yellow", "failed": "red"}


def elastic_payload(
    results: list[ElasticVerifyResult], references: ElasticReferenceSet
) -> dict[str, Any]:
    """The ``--json`` document: results, the reference file and its citation, units."""
    return {
        "property": "elastic",
        "reference": {"file": str(references.path), "citation": references.citation},
        "results": [json.loads(r.model_dump_json()) for r in results],
        "units": ELASTIC_UNITS,
    }


def acceptance_text(acceptance: ElasticAcceptance) -> str:
    """``|ΔK|/K ≤ 10 % and |ΔG|/G ≤ 15 %``."""
    return (
        f"|ΔK|/K ≤ {acceptance.bulk_relative:.0%} and |ΔG|/G ≤ {acceptance.shear_relative:.0%}"
    ).replace("%", " %")


def print_elastic_table(
    results: list[ElasticVerifyResult], console: Console, references: ElasticReferenceSet
) -> None:
    """One row per material: C_ij, max |ΔC_ij|, K_V, G_V (reference), errors, verdict, cost."""
    from rich.markup import escape
    from rich.table import Table

    if not results:
        return
    first = results[0]
    table = Table(
        title=f"Elastic constants: {first.pseudo_family}, {first.protocol} "
        f"(reference {references.path.name})"
    )
    columns = ("material", "C_ij GPa", "max|ΔC_ij|", "K_V GPa", "G_V GPa", "|ΔK|/K", "|ΔG|/G")
    for column in (*columns, "verdict", "quality", "k mesh", "cells", "core-s"):
        table.add_column(column, justify="left" if column in ("material", "C_ij GPa") else "right")
    for r in results:
        c = r.comparison
        if c is None:
            verdict = f"[{VERDICT_STYLE[r.status]}]{r.status}: {escape(r.reason or '')}[/]"
            table.add_row(r.material_id + " " + r.formula, *[""] * 6, verdict, "", "", "", "")
            continue
        components = "\n".join(
            f"{x.label} {x.computed:.1f} ({x.reference:.1f})" for x in c.components
        )
        table.add_row(
            f"{r.material_id} {r.formula}",
            components,
            f"{c.max_abs_delta_cij:.1f}",
            f"{c.k_voigt:.1f} ({c.k_voigt_reference:.1f})",
            f"{c.g_voigt:.1f} ({c.g_voigt_reference:.1f})",
            f"{c.k_relative_error:.1%}",
            f"{c.g_relative_error:.1%}",
            f"[{VERDICT_STYLE[c.verdict]}]{c.verdict}[/]"
            + ("" if c.born_stable else " (unstable)"),
            escape(quality_text(r.quality)),
            ", ".join("×".join(map(str, mesh)) for mesh in r.kpoints_meshes),
            str(r.n_strained_cells),
            f"{r.core_seconds:.0f}",
        )
    console.print(table)
    console.print(
        f"In parentheses: the reference ({references.citation}). K_V and G_V are Voigt averages "
        f"of the tensors. Within tolerance: {acceptance_text(first.acceptance)} (the project's "
        "acceptance thresholds, not the reference's precision). core-s: Σ pw.x CPU time × ranks "
        "over the flow; cells: strained cells after symmetry reduction. quality: the tensor's "
        "self-checks as a material document stores them (suspect: with the reasons)."
    )


def quality_text(quality: PropertyQuality | None) -> str:
    """``checked`` or ``suspect: reason; reason`` (empty when the checks were not run)."""
    if quality is None:
        return ""
    if not quality.reasons:
        return quality.level
    return f"{quality.level}: " + "; ".join(quality.reasons)


__all__ = [
    "ELASTIC_UNITS",
    "acceptance_text",
    "elastic_payload",
    "print_elastic_table",
    "quality_text",
]
