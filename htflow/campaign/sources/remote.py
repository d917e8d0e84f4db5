"""Network sources: Materials Project ids (mp-api's REST API) and OPTIMADE provider queries.

Both are optional. Without network access (or without ``MP_API_KEY`` for the Materials
Project) they contribute no candidates and a note saying why, so a campaign that mixes
local and remote sources still runs offline.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
import warnings
from typing import TYPE_CHECKING, Any

from pymatgen.core import Lattice, Structure

from htflow.campaign.candidate import Candidate

if TYPE_CHECKING:
    from htflow.campaign.spec import OptimadeSource

TIMEOUT = 20.0  # s per HTTP request
PAGE_LIMIT = 100  # OPTIMADE entries asked for per request


def from_materials_project(
    ids: list[str], *, network: bool = True
) -> tuple[list[Candidate], str | None]:
    """Structures of Materials Project ``ids``, or none and a note when that is not possible."""
    key = os.environ.get("MP_API_KEY")
    if not network:
        return [], f"materials_project: {len(ids)} ids skipped (offline)"
    if not key:
        return [], f"materials_project: {len(ids)} ids skipped (set MP_API_KEY to use them)"
    try:
        from pymatgen.ext.matproj import MPRester

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rester = MPRester(key)
            out = [
                Candidate(
                    rester.get_structure_by_material_id(mp_id),
                    f"sources.materials_project[{index}] {mp_id}",
                    "materials_project",
                )
                for index, mp_id in enumerate(ids)
            ]
    except Exception as exc:  # network, auth, unknown id: all mean "not available now"
        return [], f"materials_project: skipped ({_first_line(exc)})"
    return out, None


def from_optimade(
    query: OptimadeSource, index: int, *, network: bool = True
) -> tuple[list[Candidate], str | None]:
    """Ordered structures matching ``query``, or none and a note when unreachable."""
    entry = f"sources.optimade[{index}]"
    if not network:
        return [], f"{entry}: skipped (offline)"
    params = urllib.parse.urlencode(
        {
            "filter": query.filter,
            "page_limit": min(query.max_results, PAGE_LIMIT),
            "response_fields": "lattice_vectors,cartesian_site_positions,species_at_sites,"
            "species,chemical_formula_reduced",
        }
    )
    url: str | None = f"{query.provider.rstrip('/')}/v1/structures?{params}"
    docs: list[dict[str, Any]] = []
    try:
        # providers cap page_limit (htflow's own server at 500): follow the next links
        while url and len(docs) < query.max_results:
            request = urllib.request.Request(url, headers={"User-Agent": "htflow"})
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                payload = json.loads(response.read())
            docs += payload.get("data", [])
            url = _next_link(payload)
    except Exception as exc:  # offline, DNS, HTTP error, bad JSON
        return [], f"{entry}: skipped ({_first_line(exc)})"
    out = []
    skipped = 0
    for doc in docs[: query.max_results]:
        structure = optimade_structure(doc.get("attributes", {}))
        if structure is None:
            skipped += 1
            continue
        out.append(Candidate(structure, f"{entry} {doc.get('id', '?')}", "optimade"))
    note = f"{entry}: {skipped} disordered or incomplete entries skipped" if skipped else None
    return out, note


def _next_link(payload: dict[str, Any]) -> str | None:
    """The ``links.next`` of an OPTIMADE response (a URL, or a link object with ``href``)."""
    link = (payload.get("links") or {}).get("next")
    if isinstance(link, dict):
        link = link.get("href")
    return link if isinstance(link, str) and link else None


def optimade_structure(attributes: dict[str, Any]) -> Structure | None:
    """An OPTIMADE structure's attributes → Structure; None when disordered or incomplete."""
    try:
        lattice = Lattice(attributes["lattice_vectors"])
        positions = attributes["cartesian_site_positions"]
        names = attributes["species_at_sites"]
        species = {s["name"]: s for s in attributes["species"]}
    except (KeyError, TypeError, ValueError):
        return None
    symbols = []
    for name in names:
        spec = species.get(name)
        if spec is None or len(spec["chemical_symbols"]) != 1:
            return None
        if spec.get("concentration", [1.0])[0] != 1.0:
            return None
        symbols.append(spec["chemical_symbols"][0])
    return Structure(lattice, symbols, positions, coords_are_cartesian=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
