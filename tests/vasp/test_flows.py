"""vasp_flow / describe_vasp_flow: atomate2 Makers per workflow, POTCAR check before submission."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pymatgen.core import Lattice, Structure

from htflow.cluster.profile import ClusterProfile
from htflow.exceptions import InputError
from htflow.vasp.flows import describe_vasp_flow, vasp_flow
from htflow.vasp.run import AllocationWalltimeHandler

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings("ignore")


def silicon() -> Structure:
    return Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])


def test_describe_relax_static_dos() -> None:
    assert describe_vasp_flow(silicon(), "relax_static_dos", "balanced") == [
        "relax 1 (RelaxMaker)",
        "relax 2 (RelaxMaker)",
        "static (StaticMaker)",
        "non-scf uniform (NonSCFMaker)",
    ]
    assert describe_vasp_flow(silicon(), "relax_static_dos", "fast") == [
        "relax (RelaxMaker)",
        "static (StaticMaker)",
        "non-scf uniform (NonSCFMaker)",
    ]


def test_describe_other_workflows() -> None:
    assert describe_vasp_flow(silicon(), "band_structure")[-1] == "non-scf line (NonSCFMaker)"
    elastic = describe_vasp_flow(silicon(), "elastic")
    assert elastic[-3:] == [
        "generate_elastic_deformations (generate_elastic_deformations)",
        "run_elastic_deformations (run_elastic_deformations)",
        "fit_elastic_tensor (fit_elastic_tensor)",
    ]
    eos = describe_vasp_flow(silicon(), "eos", "fast")
    assert sum("deformation" in line for line in eos) == 5  # fast: five strained cells
    assert eos[-1] == "EOS Maker postprocessing (PostProcessEosEnergy)"


def test_unknown_workflow() -> None:
    with pytest.raises(InputError, match="unknown VASP workflow 'phonons'"):
        describe_vasp_flow(silicon(), "phonons", "balanced")


def test_flow_carries_profile_command_and_walltime(fake_psp: Path, profile: ClusterProfile):
    flow = vasp_flow(silicon(), "relax_static_dos", "balanced", profile=profile)
    for job in flow.iterflow():
        maker = job[0].function.__self__
        kwargs = maker.run_vasp_kwargs
        assert "htflow.testing.fake_vasp" in kwargs["vasp_cmd"]
        assert kwargs["max_errors"] == 5
        assert any(isinstance(h, AllocationWalltimeHandler) for h in kwargs["handlers"])


def test_no_potcar_dir_fails_before_submission(
    monkeypatch: pytest.MonkeyPatch, profile: ClusterProfile
) -> None:
    from pymatgen.core import SETTINGS

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.delitem(SETTINGS, "PMG_VASP_PSP_DIR", raising=False)
    with pytest.raises(InputError) as info:
        vasp_flow(silicon(), "relax_static_dos", "balanced", profile=profile)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("no VASP POTCAR directory configured: set PMG_VASP_PSP_DIR")


def test_missing_potcar_named(fake_psp: Path, profile: ClusterProfile) -> None:
    gaas = Structure(Lattice.cubic(5.65), ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    with pytest.raises(InputError, match=r"POTCARs Ga_d, As for functional PBE not found"):
        vasp_flow(gaas, "eos", "fast", profile=profile)


def test_profile_without_vasp_cmd(fake_psp: Path) -> None:
    with pytest.raises(InputError, match="cluster profile 'qe-only' has no vasp_cmd"):
        vasp_flow(silicon(), "eos", "fast", profile=ClusterProfile(name="qe-only"))
