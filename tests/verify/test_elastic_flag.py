"""An elastic result outside the reference's acceptance is flagged suspect, with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from htflow.quality.levels import property_quality
from htflow.quality.schema import SelfCheck
from htflow.verify.elastic_metrics import ACCEPTANCE, REFERENCE_CHECKS, compare_elastic
from htflow.verify.elastic_reference import load_elastic_references
from htflow.verify.elastic_runner import ElasticVerifyResult, flag_against_reference


def result(scale_c44: float, own_passed: bool = True) -> ElasticVerifyResult:
    """A compared result for mp-134 whose C44 is the reference's times ``scale_c44``."""
    ref = load_elastic_references().materials["mp-134"]
    tensor = np.array(ref.elastic_tensor)
    for i in (3, 4, 5):
        tensor[i, i] *= scale_c44
    own = [SelfCheck(name="born_stability", passed=own_passed, detail="Born: eigenvalue < 0")]
    return ElasticVerifyResult(
        material_id=ref.material_id,
        formula=ref.formula,
        status="compared",
        pseudo_family="f",
        protocol="balanced",
        reference_file="r.json",
        reference_tensor=ref.elastic_tensor,
        elastic_tensor=tensor.tolist(),
        comparison=compare_elastic(tensor, ref, ref.structure),
        acceptance=ACCEPTANCE,
        quality=property_quality("elastic", own, {"k_mesh": "18x18x18"}),
        n_ranks=1,
        workdir="/tmp",
    )


def test_within_stays_checked_with_both_reference_checks() -> None:
    flagged = flag_against_reference(result(1.05))
    quality = flagged.quality
    assert quality is not None
    assert quality.level == "checked" and quality.reasons == []
    names = [c.name for c in quality.checks]
    assert names == ["born_stability", *REFERENCE_CHECKS]
    assert quality.settings == {"k_mesh": "18x18x18"}  # the tensor's settings are kept


def test_outside_is_suspect_and_the_reason_names_modulus_values_and_threshold() -> None:
    # C44 × 1.5: G_V = (31 + 3·48)/5 = 35.0 against 25.0 GPa (+40 %); K_V unchanged
    flagged = flag_against_reference(result(1.5))
    assert flagged.comparison is not None and flagged.comparison.verdict == "outside"
    quality = flagged.quality
    assert quality is not None and quality.level == "suspect"
    (reason,) = quality.reasons
    assert reason == "G_V 35.0 GPa is 40.0 % from mp-134's 25.0 GPa (accepted: 15 %)"
    g_check = next(c for c in quality.checks if c.name == "g_voigt_vs_reference")
    assert (g_check.passed, g_check.unit) == (False, "%")
    assert g_check.value == pytest.approx(40.0) and g_check.limit == pytest.approx(15.0)
    assert next(c for c in quality.checks if c.name == "k_voigt_vs_reference").passed


def test_own_failures_stay_beside_the_reference_reason_and_flagging_is_idempotent() -> None:
    once = flag_against_reference(result(1.5, own_passed=False))
    twice = flag_against_reference(once)
    assert twice.quality == once.quality
    assert once.quality is not None
    assert once.quality.reasons[0] == "Born: eigenvalue < 0"
    assert once.quality.reasons[1].startswith("G_V 35.0 GPa is 40.0 %")
    assert [c.name for c in once.quality.checks].count("g_voigt_vs_reference") == 1


def test_a_result_without_a_tensor_is_left_alone() -> None:
    skipped = result(1.0).model_copy(update={"comparison": None, "quality": None})
    assert flag_against_reference(skipped) == skipped
