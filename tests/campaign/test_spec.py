"""The campaign spec model: defaults, workflow steps, and one-line errors."""

from __future__ import annotations

import pytest

from htflow.campaign.spec import CampaignSpec, load_campaign, parse_campaign
from htflow.exceptions import InputError


def test_minimal_spec_defaults() -> None:
    spec = parse_campaign({"name": "x", "workflow": ["eos"]})
    assert spec.code == "qe"
    assert spec.protocol == "balanced"
    assert spec.dedupe.within_campaign and spec.dedupe.against_database
    assert spec.filters.missing_pseudo == "error"
    assert spec.workflow[0].name == "eos" and spec.workflow[0].crystal_systems is None


def test_workflow_steps_strings_and_mappings() -> None:
    spec = parse_campaign(
        {
            "name": "x",
            "workflow": ["relax_static_dos", {"name": "elastic", "crystal_systems": ["cubic"]}],
        }
    )
    assert [s.name for s in spec.workflow] == ["relax_static_dos", "elastic"]
    assert spec.workflow[1].crystal_systems == ["cubic"]


def test_demo_spec_is_valid() -> None:
    from pathlib import Path

    spec = load_campaign(Path(__file__).resolve().parents[2] / "workflows" / "demo.yaml")
    assert isinstance(spec, CampaignSpec)
    assert spec.protocol == "fast"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "workflow": ["eos"], "sourcez": {}}, "unknown key 'sourcez'"),
        (
            {"name": "x", "workflow": ["eos"], "filters": {"max_site": 3}},
            "unknown key 'filters.max_site'",
        ),
        ({"name": "x", "workflow": ["dance"]}, "key 'workflow.0.name'"),
        ({"name": "x", "workflow": ["eos"], "priority": "high"}, "key 'priority'"),
        ({"name": "x", "workflow": ["eos", "eos"]}, "listed twice"),
        ({"workflow": ["eos"]}, "key 'name' is required"),
        (
            {
                "name": "x",
                "workflow": ["eos"],
                "sources": {"prototypes": [{"prototype": "fcc", "sites": {"A": ["Xx"]}}]},
            },
            "not a chemical element",
        ),
        ({"name": "x", "workflow": ["eos"], "sources": {"materials_project": ["149"]}}, "mp-149"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_bad_specs_one_line(data: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_campaign(data, source="c.yaml")
    text = str(info.value)
    assert message in text
    assert text.startswith("c.yaml: ")
    assert "\n" not in text
