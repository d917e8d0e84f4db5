"""pw.x error handlers on real recorded failures (tests/data/qe_errors): exact actions.

Each test copies a recorded run directory into tmp_path, asks the handler to check and
correct it, and asserts the actions returned, what changes on repeated calls and the
rewritten pw_input.json / pw.in.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from htflow.qe.errors import PwError
from htflow.qe.handlers import (
    PRIORITY,
    BfgsHandler,
    CellFactorHandler,
    DiagonalizationHandler,
    FatalErrorHandler,
    FinalScfHandler,
    InsufficientBandsHandler,
    IonicConvergenceHandler,
    KilledHandler,
    PwErrorHandler,
    ScfConvergenceHandler,
    SmearingHandler,
    WalltimeHandler,
    apply_actions,
    default_pw_handlers,
)
from htflow.qe.pwinput import PwInput
from htflow.settings import settings_env

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "qe_errors"


def run_dir(tmp_path: Path, case: str) -> Path:
    """A private copy of a recorded run directory."""
    target = tmp_path / case
    shutil.copytree(FIXTURES / case, target)
    return target


def pw(directory: Path) -> PwInput:
    return PwInput.from_directory(directory)


def rounded(value: Any, digits: int = 6) -> Any:
    """Actions with floats rounded, for comparing parsed structures."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return value


def fcc(a: float) -> list[list[float]]:
    h = a / 2
    return [[0.0, h, h], [h, 0.0, h], [h, h, 0.0]]


# ----------------------------------------------------------------------------- wiring


def test_every_error_class_has_exactly_one_handler() -> None:
    handlers = default_pw_handlers()
    for error in PwError:
        owners = [type(h).__name__ for h in handlers if error in h.handles and not h.is_monitor]
        assert len(owners) == 1, (error, owners)
    assert set(PRIORITY) == set(PwError)
    # a monitor only stops a run early; what follows is the fatal handler's verdict
    watched = {error for h in handlers if h.is_monitor for error in h.handles}
    assert watched == {PwError.GHOST_STATE} and all(error.fatal for error in watched)


def test_default_handlers_are_fresh_and_fatal_first() -> None:
    first, second = default_pw_handlers(), default_pw_handlers()
    assert isinstance(first[0], FatalErrorHandler)
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert all(isinstance(h, PwErrorHandler) for h in first)
    assert [type(h).__name__ for h in first if h.is_monitor] == ["GhostStateMonitor"]
    assert all(h.raise_on_max for h in first)  # out of corrections must fail, not pass


@pytest.mark.parametrize("case", ["scf_success", "relax_success", "smearing_mid_gap"])
def test_successful_runs_trigger_nothing(tmp_path: Path, case: str) -> None:
    directory = run_dir(tmp_path, case)
    assert [type(h).__name__ for h in default_pw_handlers() if h.check(directory)] == []


@pytest.mark.parametrize(
    ("case", "handler"),
    [
        ("scf_not_converged", "ScfConvergenceHandler"),
        ("walltime_scf", "WalltimeHandler"),
        ("walltime_relax", "WalltimeHandler"),
        ("killed_sigkill", "KilledHandler"),
        ("killed_sigterm", "KilledHandler"),
        ("diagonalization_s_matrix", "DiagonalizationHandler"),
        ("diagonalization_silent_abort", "DiagonalizationHandler"),
        ("diagonalization_cholesky", "DiagonalizationHandler"),
        ("diagonalization_zhegvd", "DiagonalizationHandler"),
        ("diagonalization_too_many_bands", "DiagonalizationHandler"),
        ("diagonalization_qr", "DiagonalizationHandler"),
        ("diagonalization_eigenvectors", "DiagonalizationHandler"),
        ("ionic_not_converged", "IonicConvergenceHandler"),
        ("bfgs_history_failure", "BfgsHandler"),
        ("vc_relax_fft_contraction", "CellFactorHandler"),
        ("final_scf_mismatch", "FinalScfHandler"),
        ("insufficient_bands", "InsufficientBandsHandler"),
        ("smearing_in_gap", "SmearingHandler"),
        ("smearing_in_gap_relax", "SmearingHandler"),
        ("missing_pseudo", "FatalErrorHandler"),
        ("bad_namelist", "FatalErrorHandler"),
        ("unknown_crash_too_few_bands", "FatalErrorHandler"),
    ],
)
def test_exactly_one_handler_fires_per_recorded_failure(
    tmp_path: Path, case: str, handler: str
) -> None:
    directory = run_dir(tmp_path, case)
    assert [type(h).__name__ for h in default_pw_handlers() if h.check(directory)] == [handler]


# ------------------------------------------------------------------------------ fatal


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("missing_pseudo", "missing_pseudo"),
        ("bad_namelist", "bad_namelist"),
        ("unknown_crash_too_few_bands", "unknown_crash"),
    ],
)
def test_fatal_errors_give_no_actions_and_leave_input_alone(
    tmp_path: Path, case: str, error: str
) -> None:
    directory = run_dir(tmp_path, case)
    before = (directory / "pw_input.json").read_text(), (directory / "pw.in").read_text()
    handler = FatalErrorHandler()
    assert handler.check(directory)
    assert handler.correct(directory) == {"errors": [error], "actions": []}
    assert handler.raises_runtime_error  # Custodian raises NonRecoverableError at once
    assert ((directory / "pw_input.json").read_text(), (directory / "pw.in").read_text()) == before


# ---------------------------------------------------------------------------- scf


def test_scf_not_converged_escalates(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "scf_not_converged")
    handler = ScfConvergenceHandler()
    assert handler.check(directory)
    how = "restart from scratch (no charge density on disk)"

    def reason(n: int) -> str:
        return f"scf not converged (correction {n}): gentler mixing, {how}"

    assert handler.correct(directory) == {
        "errors": ["scf_not_converged"],
        "actions": [
            {
                "action": "update_input",
                "changes": {"electrons": {"mixing_beta": 0.56}},
                "reason": reason(1),
            }
        ],
    }
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {"electrons": {"mixing_beta": 0.448, "mixing_mode": "local-TF"}},
            "reason": reason(2),
        }
    ]
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {"electrons": {"mixing_beta": 0.3584, "electron_maxstep": 6}},
            "reason": reason(3),
        }
    ]
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {
                "electrons": {
                    "mixing_beta": 0.28672,
                    "electron_maxstep": 12,
                    "diagonalization": "cg",
                }
            },
            "reason": reason(4),
        }
    ]
    electrons = pw(directory).electrons
    assert electrons == {
        "electron_maxstep": 12,
        "conv_thr": 1e-12,
        "mixing_beta": 0.28672,
        "mixing_mode": "local-TF",
        "diagonalization": "cg",
    }
    text = (directory / "pw.in").read_text()
    assert "mixing_beta = 0.28672" in text
    assert "mixing_mode = 'local-TF'" in text
    assert "diagonalization = 'cg'" in text
    assert "startingpot" not in text  # the fixture kept no charge density


def test_scf_handler_gives_up_at_the_mixing_floor(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "scf_not_converged")
    pw(directory).updated(
        electrons={
            "mixing_beta": 0.1,
            "mixing_mode": "local-TF",
            "electron_maxstep": 400,
            "diagonalization": "cg",
        }
    ).write(directory)
    handler = ScfConvergenceHandler()
    handler._calls = 3  # local-TF and electron_maxstep were spent in earlier corrections
    assert handler.correct(directory) == {"errors": ["scf_not_converged"], "actions": []}


# ------------------------------------------------------------------- diagonalization


def test_diagonalization_escalates_david_ppcg_cg_skipping_paro_on_6_7(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "diagonalization_s_matrix")
    handler = DiagonalizationHandler()
    assert handler.check(directory)
    assert handler.correct(directory) == {
        "errors": ["diagonalization"],
        "actions": [
            {
                "action": "update_input",
                "changes": {"electrons": {"diagonalization": "ppcg"}},
                "reason": "diagonalization failed with david: switch to ppcg",
            }
        ],
    }
    # paro needs pw.x >= 7.0; pw.out says v.6.7MaX
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {"electrons": {"diagonalization": "cg"}},
            "reason": "diagonalization failed with ppcg: switch to cg",
        }
    ]
    assert handler.correct(directory) == {"errors": ["diagonalization"], "actions": []}
    assert pw(directory).electrons == {"diagonalization": "cg"}
    assert "diagonalization = 'cg'" in (directory / "pw.in").read_text()


def test_diagonalization_offers_paro_on_pw_7(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "diagonalization_zhegvd")  # failed with ppcg
    out = directory / "pw.out"
    out.write_text(out.read_text().replace("Program PWSCF v.6.7MaX", "Program PWSCF v.7.2"))
    handler = DiagonalizationHandler()
    changes = [handler.correct(directory)["actions"][0]["changes"] for _ in range(3)]
    assert changes == [
        {"electrons": {"diagonalization": "paro"}},
        {"electrons": {"diagonalization": "cg"}},
        {"electrons": {"diagonalization": "david"}},  # wraps around to the one never tried
    ]
    assert handler.correct(directory)["actions"] == []


# ----------------------------------------------------------------------------- bands


def test_insufficient_bands_adds_at_least_four(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "insufficient_bands")
    handler = InsufficientBandsHandler()
    assert handler.check(directory)
    reason = (
        "highest band occupied with nbnd={}: nbnd={}, "
        "restart from scratch (no charge density on disk)"
    )
    assert handler.correct(directory) == {
        "errors": ["insufficient_bands"],
        "actions": [
            {
                "action": "update_input",
                "changes": {"system": {"nbnd": 10}},
                "reason": reason.format(6, 10),
            }
        ],
    }
    assert handler.correct(directory)["actions"][0]["changes"] == {"system": {"nbnd": 14}}
    assert pw(directory).system["nbnd"] == 14
    assert "nbnd = 14" in (directory / "pw.in").read_text()


def test_insufficient_bands_scales_with_many_bands_and_reads_pw_out(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "insufficient_bands")
    pw(directory).updated(system={"nbnd": 200}).write(directory)
    assert InsufficientBandsHandler().correct(directory)["actions"][0]["changes"] == {
        "system": {"nbnd": 210}
    }
    # no nbnd in the input: the count pw.x chose ("number of Kohn-Sham states= 6")
    pw(directory).updated(system={"nbnd": None}).write(directory)
    assert InsufficientBandsHandler().correct(directory)["actions"][0]["changes"] == {
        "system": {"nbnd": 10}
    }


# ---------------------------------------------------------------------------- walltime


@pytest.fixture
def no_allocation_end(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HTFLOW_WALLTIME_END", raising=False)
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "absent.yaml"))


@pytest.mark.usefixtures("no_allocation_end")
def test_walltime_scf_without_allocation_end_drops_the_bound(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "walltime_scf")
    handler = WalltimeHandler()
    assert handler.check(directory)
    assert handler.correct(directory) == {
        "errors": ["walltime"],
        "actions": [
            {
                "action": "update_input",
                "changes": {"control": {"max_seconds": None}},
                "reason": "stopped on max_seconds, no allocation end set: continue from scratch "
                "(no restart files), no bound",
            }
        ],
    }
    assert "max_seconds" not in pw(directory).control
    assert "max_seconds" not in (directory / "pw.in").read_text()


def test_walltime_rebounds_max_seconds_from_the_remaining_allocation(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "walltime_relax")
    with settings_env(walltime_end=time.time() + 1000.0, walltime_margin=100.0):
        result = WalltimeHandler().correct(directory)
    (action,) = result["actions"]
    bound = action["changes"]["control"]["max_seconds"]
    assert 895.0 <= bound <= 900.0
    assert action == {
        "action": "update_input",
        "changes": {"control": {"max_seconds": bound}},
        "reason": "stopped on max_seconds: continue from the last structure (no restart files) "
        f"within {bound:.0f} s",
    }
    assert pw(directory).control["max_seconds"] == bound


def test_walltime_with_no_time_left_prepares_the_next_allocation_and_stops(
    tmp_path: Path,
) -> None:
    directory = run_dir(tmp_path, "walltime_scf")
    with settings_env(walltime_end=time.time() + 30.0, walltime_margin=0.0):
        result = WalltimeHandler(min_seconds=60.0).correct(directory)
    assert result["actions"] == []  # Custodian stops: no loop on an exhausted allocation
    assert result["errors"][0] == "walltime"
    assert result["errors"][1].startswith("no time left in this allocation (")
    assert result["prepared_for_next_run"] == [
        {
            "action": "update_input",
            "changes": {"control": {"max_seconds": None}},
            "reason": "continue from scratch (no restart files) in the next allocation",
        }
    ]
    assert "max_seconds" not in pw(directory).control  # run_pw bounds it again next time


# ------------------------------------------------------------------------------ killed


@pytest.mark.parametrize("case", ["killed_sigkill", "killed_sigterm"])
def test_killed_scf_reruns_then_gives_up_after_two(tmp_path: Path, case: str) -> None:
    directory = run_dir(tmp_path, case)
    handler = KilledHandler()
    assert handler.check(directory)
    assert handler.max_num_corrections == 2
    for n in (1, 2):
        assert handler.correct(directory) == {
            "errors": ["killed"],
            "actions": [
                {
                    "action": "rerun",
                    "reason": f"pw.x was killed (correction {n}): restart from scratch",
                }
            ],
        }


def test_killed_after_a_density_restart_goes_back_to_scratch(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "killed_sigterm")
    pw(directory).updated(electrons={"startingpot": "file"}).write(directory)
    handler = KilledHandler()
    handler._calls = 1  # second kill in this run
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {"electrons": {"startingpot": None}},
            "reason": "pw.x was killed (correction 2): restart from scratch",
        }
    ]
    assert "startingpot" not in (directory / "pw.in").read_text()


# ------------------------------------------------------------------------------- ionic


def test_ionic_not_converged_restarts_from_last_structure_then_doubles_nstep(
    tmp_path: Path,
) -> None:
    directory = run_dir(tmp_path, "ionic_not_converged")
    lattice = pw(directory).lattice
    handler = IonicConvergenceHandler()
    assert handler.check(directory)
    last = [
        [0.0195774649, -0.0004907019, -0.0138908432],
        [0.2704225351, 0.2504907019, 0.2338908432],
    ]
    first = handler.correct(directory)
    assert rounded(first) == rounded(
        {
            "errors": ["ionic_not_converged"],
            "actions": [
                {
                    "action": "set_structure",
                    "lattice": lattice,
                    "frac_coords": last,
                    "reason": "restart from the last structure pw.x reached",
                }
            ],
        }
    )
    assert rounded(pw(directory).frac_coords) == rounded(last)
    assert "Si 0.0195774649 -0.0004907019 -0.0138908432" in (directory / "pw.in").read_text()
    second = handler.correct(directory)["actions"]
    # the structure is already the last one: only nstep changes
    assert second == [
        {
            "action": "update_input",
            "changes": {"control": {"nstep": 4}},
            "reason": "ionic convergence not reached (correction 2): continue from the last "
            "structure",
        }
    ]
    assert handler.correct(directory)["actions"][0]["changes"] == {"control": {"nstep": 8}}


def test_bfgs_failure_lowers_trust_radii_then_damps(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "bfgs_history_failure")
    handler = BfgsHandler()
    assert handler.check(directory)
    first = handler.correct(directory)
    assert first["errors"] == ["bfgs_history_failure"]
    structure, update = first["actions"]
    assert structure["action"] == "set_structure"
    assert rounded(structure["frac_coords"]) == rounded(
        [[0.0100003384, -0.0000019844, -0.0049991770], [0.2599996616, 0.2500019844, 0.2449991770]]
    )
    assert update == {
        "action": "update_input",
        "changes": {"ions": {"trust_radius_min": 0.0001, "trust_radius_ini": 0.25}},
        "reason": "bfgs history failure: smaller trust radii, restart from the last structure",
    }
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {"ions": {"ion_dynamics": "damp"}},
            "reason": "bfgs history failure again: damped dynamics, restart from the last "
            "structure",
        }
    ]
    assert pw(directory).ions == {
        "trust_radius_min": 0.0001,
        "trust_radius_ini": 0.25,
        "ion_dynamics": "damp",
    }
    assert "ion_dynamics = 'damp'" in (directory / "pw.in").read_text()
    assert handler.correct(directory)["actions"] == []


def test_bfgs_failure_in_vc_relax_also_damps_the_cell(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "bfgs_history_failure")
    pw(directory).updated(control={"calculation": "vc-relax"}).write(directory)
    handler = BfgsHandler()
    handler.correct(directory)
    update = handler.correct(directory)["actions"][-1]
    assert update["changes"] == {
        "ions": {"ion_dynamics": "damp"},
        "cell": {"cell_dynamics": "damp-w"},
    }
    assert "cell_dynamics = 'damp-w'" in (directory / "pw.in").read_text()


def test_fft_contraction_doubles_cell_factor(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "vc_relax_fft_contraction")
    handler = CellFactorHandler()
    assert handler.check(directory)
    first = handler.correct(directory)
    # pw.x printed the contracted cell of the first bfgs step, then crashed in scale_h
    a = 2 * 3.539037806
    assert rounded(first) == rounded(
        {
            "errors": ["vc_relax_fft_contraction"],
            "actions": [
                {
                    "action": "set_structure",
                    "lattice": fcc(a),
                    "frac_coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]],
                    "reason": "restart from the last structure pw.x reached",
                },
                {
                    "action": "update_input",
                    "changes": {"cell": {"cell_factor": 2.0}},
                    "reason": "volume change beyond cell_factor=1.0: cell_factor=2.0, restart "
                    "from the last structure",
                },
            ],
        }
    )
    assert rounded(pw(directory).lattice) == rounded(fcc(a))
    assert handler.correct(directory)["actions"][0]["changes"] == {"cell": {"cell_factor": 4.0}}
    assert handler.correct(directory)["actions"][0]["changes"] == {"cell": {"cell_factor": 8.0}}
    assert "cell_factor = 8.0" in (directory / "pw.in").read_text()


def test_final_scf_mismatch_relaxes_again_from_the_final_structure(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "final_scf_mismatch")
    handler = FinalScfHandler()
    assert handler.check(directory)
    result = handler.correct(directory)
    a = 2 * 2.720156828  # CELL_PARAMETERS (angstrom) of "Begin final coordinates"
    assert rounded(result) == rounded(
        {
            "errors": ["final_scf_mismatch"],
            "actions": [
                {
                    "action": "set_structure",
                    "lattice": fcc(a),
                    "frac_coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]],
                    "reason": "restart from the last structure pw.x reached",
                }
            ],
        }
    )
    after = pw(directory)
    assert after.control["calculation"] == "vc-relax"
    assert rounded(after.lattice) == rounded(fcc(a))
    # asked again: the same final structure, now at constant cutoff (modified kinetic
    # functional at the old ecutwfc, basis x 1.25; ecutrho was pw.x's default 4 x ecutwfc)
    reason = "final scf disagrees again: constant-cutoff kinetic functional (ecfixed=12.0 Ry, "
    assert handler.correct(directory) == {
        "errors": ["final_scf_mismatch"],
        "actions": [
            {
                "action": "update_input",
                "changes": {
                    "system": {
                        "ecfixed": 12.0,
                        "qcutz": 150.0,
                        "q2sigma": 2.0,
                        "ecutwfc": 15.0,
                        "ecutrho": 60.0,
                    }
                },
                "reason": reason + "qcutz=150.0 Ry, q2sigma=2.0 Ry, cutoffs x 1.25), relax "
                "again from the final structure",
            }
        ],
    }
    text = (directory / "pw.in").read_text()
    assert "qcutz = 150.0" in text and "ecfixed = 12.0" in text and "ecutwfc = 15.0" in text
    # then plain relaxations again: the functional is already on
    assert handler.correct(directory)["actions"] == [
        {
            "action": "rerun",
            "reason": "final scf disagrees with the relaxed cell: relax again from the final "
            "structure; pw.x printed no newer structure",
        }
    ]
    assert handler.max_num_corrections == 3


# --------------------------------------------------------------------------- smearing

SMEARING_REASON = (
    "gapped system with a smearing artefact (-TS != 0 or E_F outside the gap, correction {}): "
    "{}, restart {}"
)


def test_smearing_in_gap_goes_to_fixed_occupations_then_gaussian(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "smearing_in_gap")
    handler = SmearingHandler()
    assert handler.check(directory)
    how = "from scratch (no charge density on disk)"  # the fixture keeps no density
    assert handler.correct(directory) == {
        "errors": ["smearing_in_gap"],
        "actions": [
            {
                "action": "update_input",
                # nbnd: pw.out's "number of Kohn-Sham states= 12", so the gap stays known
                "changes": {
                    "system": {
                        "occupations": "fixed",
                        "smearing": None,
                        "degauss": None,
                        "nbnd": 12,
                    }
                },
                "reason": SMEARING_REASON.format(1, "fixed occupations", how),
            }
        ],
    }
    system = pw(directory).system
    assert system["occupations"] == "fixed" and system["nbnd"] == 12
    assert "smearing" not in system and "degauss" not in system
    text = (directory / "pw.in").read_text()
    assert "occupations = 'fixed'" in text and "degauss" not in text
    # asked again about the same output: Gaussian occupations, the other monotonic route
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {
                "system": {"occupations": "smearing", "smearing": "gaussian", "degauss": 0.005}
            },
            "reason": SMEARING_REASON.format(2, "gaussian smearing of 0.005 Ry", how),
        }
    ]
    assert "smearing = 'gaussian'" in (directory / "pw.in").read_text()
    assert handler.correct(directory) == {"errors": ["smearing_in_gap"], "actions": []}


def test_smearing_in_gap_spin_polarized_goes_gaussian_first(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "smearing_in_gap")
    pw(directory).updated(system={"nspin": 2, "starting_magnetization(1)": 0.0}).write(directory)
    handler = SmearingHandler()
    assert handler.correct(directory)["actions"] == [
        {
            "action": "update_input",
            "changes": {"system": {"smearing": "gaussian", "degauss": 0.005}},
            "reason": SMEARING_REASON.format(
                1, "gaussian smearing of 0.005 Ry", "from scratch (no charge density on disk)"
            ),
        }
    ]
    # 'fixed' with nspin=2 needs tot_magnetization = N_up - N_down from the occupations;
    # this recorded run is not spin-polarized, so there is no moment to fix: give up.
    assert handler.correct(directory)["actions"] == []
    assert pw(directory).system["smearing"] == "gaussian"


def test_smearing_in_gap_relax_restarts_from_the_final_structure(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "smearing_in_gap_relax")
    before = pw(directory)
    result = SmearingHandler().correct(directory)
    # rocksalt sites feel no force: the final structure is the input's, no set_structure
    assert result["actions"] == [
        {
            "action": "update_input",
            "changes": {
                "system": {"occupations": "fixed", "smearing": None, "degauss": None, "nbnd": 12}
            },
            "reason": SMEARING_REASON.format(1, "fixed occupations", "from the last structure"),
        }
    ]
    after = pw(directory)
    assert after.control["calculation"] == "relax"
    assert after.lattice == before.lattice


# ------------------------------------------------------------------------- bookkeeping


def test_fresh_handlers_do_not_share_escalation(tmp_path: Path) -> None:
    one = run_dir(tmp_path / "a", "scf_not_converged")
    two = run_dir(tmp_path / "b", "scf_not_converged")
    first_run = default_pw_handlers()
    scf = next(h for h in first_run if isinstance(h, ScfConvergenceHandler))
    for _ in range(3):
        scf.correct(one)
    assert "electron_maxstep" in scf.correct(one)["actions"][0]["changes"]["electrons"]
    fresh = next(h for h in default_pw_handlers() if isinstance(h, ScfConvergenceHandler))
    assert fresh.correct(two)["actions"][0]["changes"] == {"electrons": {"mixing_beta": 0.56}}
    # a fresh diagonalization handler in a later run on the same directory moves on from
    # the algorithm that failed last, not back to the start
    diag = run_dir(tmp_path / "c", "diagonalization_s_matrix")
    DiagonalizationHandler().correct(diag)
    assert DiagonalizationHandler().correct(diag)["actions"][0]["changes"] == {
        "electrons": {"diagonalization": "cg"}
    }


def test_actions_replay_to_the_same_input(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, "bfgs_history_failure")
    original = pw(directory)
    actions = BfgsHandler().correct(directory)["actions"]
    corrected = pw(directory)
    replay = tmp_path / "replay"
    original.write(replay)
    assert apply_actions(replay, actions) == corrected
    with pytest.raises(ValueError, match="unknown handler action"):
        apply_actions(replay, [{"action": "delete_everything"}])


def test_handlers_serialise_for_custodian_json() -> None:
    for handler in default_pw_handlers():
        data = json.loads(json.dumps(handler.as_dict()))
        assert data["@class"] == type(handler).__name__
        assert data["max_num_corrections"] == handler.max_num_corrections
