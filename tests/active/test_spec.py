"""The active strategy's spec: defaults, every bad input it owns, and the objective fields."""

from __future__ import annotations

import numpy as np
import pytest

from htflow.active.objective_fields import OBJECTIVE_FIELDS, WORKFLOWS
from htflow.active.spec import ActiveSpec, Objective, check_objective, check_pool, parse_active
from htflow.db.materials import known_field
from htflow.exceptions import InputError

BASE = {"objective": {"field": "band_gap", "goal": "maximize"}, "budget": {"calculations": 10}}


def _with(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


def _error(data: object) -> str:
    with pytest.raises(InputError) as caught:
        parse_active(data)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    spec = parse_active(BASE)
    assert spec.surrogate.backend == "gp"
    assert spec.acquisition.kind == "ei"
    assert spec.acquisition.batch_size == 1
    assert spec.acquisition.diversity == "kriging_believer"
    assert spec.stop.no_improvement_rounds == 3
    assert spec.constraints == []
    assert spec.initial_size() == 2  # batch 1, but a model needs two points
    batch4 = parse_active(_with(acquisition={"batch_size": 4}))
    assert batch4.initial_size() == 4
    assert parse_active(_with(initial={"size": 5})).initial_size() == 5


def test_models_are_frozen_and_reject_unknown_keys() -> None:
    spec = parse_active(BASE)
    with pytest.raises(ValueError, match="frozen"):
        spec.budget = spec.budget  # type: ignore[misc]
    assert "unknown key" in _error(_with(acquisiton={"kind": "ei"}))
    assert "acquisition.kappaa" in _error(_with(acquisition={"kappaa": 1.0}))


def test_unknown_objective_field() -> None:
    message = _error(_with(objective={"field": "bandgap", "goal": "maximize"}))
    assert "unknown objective field 'bandgap': use one of" in message
    assert "band_gap" in message


def test_unknown_constraint_field() -> None:
    message = _error(_with(constraints=[{"field": "hull", "max": 0.1}]))
    assert "unknown constraint field 'hull'" in message


def test_target_goal_needs_a_target_and_only_it_takes_one() -> None:
    assert "needs a target value" in _error(
        _with(objective={"field": "band_gap", "goal": "target"})
    )
    message = _error(_with(objective={"field": "k_vrh", "goal": "maximize", "target": 100}))
    assert "takes no target" in message


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({"calculations": 0}, "budget of 0 calculations: give at least 1"),
        ({"calculations": -3}, "budget of -3 calculations"),
        ({"core_hours": 0}, "budget of 0 core-hours: give a positive number"),
        ({}, "a budget needs calculations:, core_hours: or both"),
    ],
)
def test_budget_of_zero_or_nothing(budget: dict[str, float], expected: str) -> None:
    assert expected in _error(_with(budget=budget))


def test_missing_budget_and_batch_size_zero() -> None:
    assert "key 'budget': required" in _error({"objective": BASE["objective"]})
    assert "acquisition.batch_size" in _error(_with(acquisition={"batch_size": 0}))


def test_constraint_needs_a_bound_in_order() -> None:
    assert "has no bound" in _error(_with(constraints=[{"field": "energy_above_hull"}]))
    assert "min > max" in _error(
        _with(constraints=[{"field": "energy_above_hull", "min": 1, "max": 0}])
    )


def test_goal_on_a_property_no_chosen_workflow_computes() -> None:
    spec = parse_active(_with(objective={"field": "k_vrh", "goal": "maximize"}))
    with pytest.raises(InputError) as caught:
        check_objective(spec, ["relax_static_dos"])
    assert str(caught.value) == (
        "objective 'k_vrh' needs workflow 'elastic', which the campaign does not run: "
        "add it to workflow:"
    )
    check_objective(spec, ["relax_static_dos", "elastic"])
    dos = parse_active(_with(constraints=[{"field": "dos.dos_at_efermi", "max": 0.5}]))
    with pytest.raises(InputError, match=r"constraint 'dos\.dos_at_efermi' needs workflow"):
        check_objective(dos, ["eos"])
    check_objective(dos, ["band_structure"])


def test_every_workflow_yields_energy_and_gap() -> None:
    # each workflow starts with the same vc-relax: the builder's energy task when no static ran
    spec = parse_active(_with(constraints=[{"field": "energy_above_hull", "max": 0.05}]))
    for workflow in sorted(WORKFLOWS):
        check_objective(spec, [workflow])


def test_batch_larger_than_the_pool() -> None:
    spec = parse_active(_with(acquisition={"batch_size": 5}))
    with pytest.raises(InputError) as caught:
        check_pool(spec, 3)
    assert str(caught.value) == (
        "acquisition.batch_size 5 is larger than the pool of 3 candidates: give batch_size ≤ 3"
    )
    check_pool(spec, 5)
    with pytest.raises(InputError, match="pool is empty"):
        check_pool(spec, 0)


def test_every_objective_field_is_a_materials_field() -> None:
    for field, workflows in OBJECTIVE_FIELDS.items():
        assert known_field(field), field
        assert workflows and workflows <= WORKFLOWS, field


def test_utility_is_larger_for_better() -> None:
    y = np.array([1.0, 1.4, 2.0])
    assert list(Objective(field="k_vrh", goal="maximize").utility(y)) == [1.0, 1.4, 2.0]
    assert list(Objective(field="k_vrh", goal="minimize").utility(y)) == [-1.0, -1.4, -2.0]
    target = Objective(field="band_gap", goal="target", target=1.4).utility(y)
    np.testing.assert_allclose(target, [-0.4, 0.0, -0.6])


def test_feasibility_from_constraints() -> None:
    spec = ActiveSpec.model_validate(
        _with(
            constraints=[
                {"field": "energy_above_hull", "max": 0.1},
                {"field": "is_metal", "max": 0},
            ]
        )
    )
    assert spec.is_feasible({"energy_above_hull": 0.05, "is_metal": False})
    assert not spec.is_feasible({"energy_above_hull": 0.2, "is_metal": False})
    assert not spec.is_feasible({"energy_above_hull": 0.05, "is_metal": True})
    assert not spec.is_feasible({"energy_above_hull": None, "is_metal": False})
    assert spec.fields() == ["band_gap", "energy_above_hull", "is_metal"]


def test_spec_round_trips_through_json() -> None:
    spec = parse_active(
        _with(
            objective={"field": "band_gap", "goal": "target", "target": 1.4},
            stop={"target_value": 0.05},
        )
    )
    assert ActiveSpec.model_validate_json(spec.model_dump_json()) == spec


def test_negative_tolerance_for_a_target_goal() -> None:
    message = _error(
        _with(
            objective={"field": "band_gap", "goal": "target", "target": 1.4},
            stop={"target_value": -0.1},
        )
    )
    assert "tolerance" in message
