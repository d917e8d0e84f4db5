"""detect_errors / summarize_errors / explain against real recorded pw.x 6.7 outputs.

The fixtures in tests/data/qe_errors were recorded by tests/data/qe_errors/record.py
(see its README.md); these tests never run pw.x.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from htflow.qe.error_messages import explain
from htflow.qe.errors import PwError, detect_errors, summarize_errors
from htflow.qe.rundir import PwRunDir

DATA = Path(__file__).resolve().parents[1] / "data" / "qe_errors"

EXPECTED: dict[str, set[PwError]] = {
    "scf_success": set(),
    "relax_success": set(),
    "scf_not_converged": {PwError.SCF_NOT_CONVERGED},
    "walltime_scf": {PwError.WALLTIME},
    "walltime_relax": {PwError.WALLTIME},
    "ionic_not_converged": {PwError.IONIC_NOT_CONVERGED},
    "bfgs_history_failure": {PwError.BFGS_HISTORY_FAILURE},
    "vc_relax_fft_contraction": {PwError.VC_RELAX_FFT_CONTRACTION},
    "final_scf_mismatch": {PwError.FINAL_SCF_MISMATCH},
    "insufficient_bands": {PwError.INSUFFICIENT_BANDS},
    "smearing_in_gap": {PwError.SMEARING_IN_GAP},
    "smearing_in_gap_relax": {PwError.SMEARING_IN_GAP},
    "smearing_mid_gap": set(),
    "ghost_state": {PwError.GHOST_STATE},
    "diagonalization_s_matrix": {PwError.DIAGONALIZATION},
    "diagonalization_silent_abort": {PwError.DIAGONALIZATION},
    "diagonalization_cholesky": {PwError.DIAGONALIZATION},
    "diagonalization_zhegvd": {PwError.DIAGONALIZATION},
    "diagonalization_too_many_bands": {PwError.DIAGONALIZATION},
    "diagonalization_qr": {PwError.DIAGONALIZATION},
    "diagonalization_eigenvectors": {PwError.DIAGONALIZATION},
    "killed_sigkill": {PwError.KILLED},
    "killed_sigterm": {PwError.KILLED},
    "missing_pseudo": {PwError.MISSING_PSEUDO},
    "bad_namelist": {PwError.BAD_NAMELIST},
    "unknown_crash_too_few_bands": {PwError.UNKNOWN_CRASH},
}

# The pw.x line each diagonalization fixture must surface in summarize_errors.
DIAGONALIZATION_MESSAGES = {
    "diagonalization_s_matrix": "S matrix not positive definite",
    "diagonalization_cholesky": "problems computing cholesky",
    "diagonalization_zhegvd": "zhegvd failed",
    "diagonalization_too_many_bands": "too many bands are not converged",
    "diagonalization_qr": "[Q, R] = qr(X, 0) failed",
    "diagonalization_eigenvectors": "eigenvectors failed to converge",
    "diagonalization_silent_abort": "MPI_ABORT",
}


def _copy(case: str, tmp_path: Path) -> Path:
    target = tmp_path / case
    shutil.copytree(DATA / case, target)
    return target


def test_every_fixture_is_covered() -> None:
    recorded = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert recorded == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fixture_error_set(case: str) -> None:
    assert detect_errors(DATA / case) == EXPECTED[case]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_pw_in_fallback_gives_the_same_answer(case: str, tmp_path: Path) -> None:
    run = _copy(case, tmp_path)
    (run / "pw_input.json").unlink()
    assert detect_errors(run) == EXPECTED[case]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_messages_and_explanation_match_the_errors(case: str) -> None:
    messages = summarize_errors(DATA / case)
    line = explain(DATA / case)
    if EXPECTED[case]:
        assert messages
        assert line
        assert "\n" not in line
    else:
        assert messages == []
        assert line == ""


@pytest.mark.parametrize(("case", "message"), sorted(DIAGONALIZATION_MESSAGES.items()))
def test_diagonalization_message_is_reported(case: str, message: str) -> None:
    assert any(message in line for line in summarize_errors(DATA / case))


def test_edited_fixtures_are_labelled() -> None:
    edited = {p.parent.name for p in DATA.glob("*/EDITED")}
    assert edited == {
        "diagonalization_too_many_bands",
        "diagonalization_qr",
        "diagonalization_eigenvectors",
    }
    readme = (DATA / "README.md").read_text()
    for name in edited:
        assert f"| `{name}` | **edited** |" in readme


def test_missing_pseudo_explanation_names_the_file_not_the_fallback_path() -> None:
    line = explain(DATA / "missing_pseudo")
    assert "Si_missing.UPF" in line
    assert "/usr/share/espresso" not in line
    assert "readpp" in line
    assert "pseudo_dir" in line


def test_bad_namelist_explanation_names_the_key() -> None:
    line = explain(DATA / "bad_namelist")
    assert "'foo_bar'" in line
    assert "&SYSTEM" in line
    assert "read_namelists" in line


def test_unknown_crash_explanation_quotes_pw() -> None:
    assert explain(DATA / "unknown_crash_too_few_bands") == (
        "pw.x stopped with Error in routine setup: too few bands"
    )


def test_fatal_flags() -> None:
    for case in ("missing_pseudo", "bad_namelist", "unknown_crash_too_few_bands"):
        assert all(error.fatal for error in detect_errors(DATA / case))
    for case in ("scf_not_converged", "walltime_scf", "killed_sigkill"):
        assert not any(error.fatal for error in detect_errors(DATA / case))


def test_scf_must_converge_false_accepts_unconverged_scf(tmp_path: Path) -> None:
    run = _copy("scf_not_converged", tmp_path)
    text = (run / "pw_input.json").read_text()
    (run / "pw_input.json").write_text(
        text.replace('"electron_maxstep": 3', '"electron_maxstep": 3, "scf_must_converge": false')
    )
    assert detect_errors(run) == set()


def test_bfgs_history_failure_with_converged_forces_is_success(tmp_path: Path) -> None:
    # Same output, but a threshold the last forces (4e-6 Ry/bohr) already meet: AiiDA's rule.
    run = _copy("bfgs_history_failure", tmp_path)
    text = (run / "pw_input.json").read_text()
    (run / "pw_input.json").write_text(
        text.replace('"forc_conv_thr": 1e-7', '"forc_conv_thr": 1e-4')
    )
    assert detect_errors(run) == set()


def test_final_scf_within_a_looser_pressure_threshold_is_success(tmp_path: Path) -> None:
    run = _copy("final_scf_mismatch", tmp_path)
    text = (run / "pw_input.json").read_text()
    (run / "pw_input.json").write_text(
        text.replace('"cell": {}', '"cell": {"press_conv_thr": 20.0}')
    )
    assert detect_errors(run) == set()


def test_fixed_occupations_top_band_is_not_insufficient() -> None:
    # Si with fixed occupations fills its top band completely: that is normal.
    assert PwError.INSUFFICIENT_BANDS not in detect_errors(DATA / "scf_success")


@pytest.mark.parametrize("case", ["smearing_in_gap", "smearing_in_gap_relax"])
def test_smearing_in_gap_reports_fermi_level_edges_and_minus_ts(case: str) -> None:
    # pw.out: "the Fermi energy is 9.1058 ev", "smearing contrib. (-TS) = 0.00581565 Ry"
    (message,) = summarize_errors(DATA / case)
    assert "E_F 9.1058 eV vs VBM 9.1778 / CBM 13.3360 eV" in message
    assert "-TS 2.91e-03 Ry/atom" in message
    assert explain(DATA / case).startswith("pw.x run failed (smearing_in_gap): gapped system")


def test_smearing_is_not_checked_when_the_run_failed_otherwise(tmp_path: Path) -> None:
    # An scf stopped on max_seconds leaves no verdict on its Fermi level.
    run = _copy("smearing_in_gap", tmp_path)
    out = run / "pw.out"
    out.write_text(out.read_text().replace("JOB DONE.", "Maximum CPU time exceeded\n JOB DONE."))
    assert detect_errors(run) == {PwError.WALLTIME}


def test_relax_without_convergence_message_is_ionic_not_converged(tmp_path: Path) -> None:
    run = _copy("relax_success", tmp_path)
    out = run / "pw.out"
    out.write_text(out.read_text().replace("bfgs converged in", "bfgs stopped in"))
    assert detect_errors(run) == {PwError.IONIC_NOT_CONVERGED}


def test_empty_directory_is_killed(tmp_path: Path) -> None:
    assert detect_errors(tmp_path) == {PwError.KILLED}
    assert explain(tmp_path)


def test_missing_directory_never_raises(tmp_path: Path) -> None:
    assert detect_errors(tmp_path / "nope") == {PwError.KILLED}


def test_truncated_output_is_killed(tmp_path: Path) -> None:
    run = _copy("scf_success", tmp_path)
    text = (run / "pw.out").read_text()
    (run / "pw.out").write_text(text[: len(text) // 2])
    (run / "pw.exitcode").unlink()
    assert detect_errors(run) == {PwError.KILLED}


def test_non_utf8_garbage_never_raises(tmp_path: Path) -> None:
    run = _copy("scf_not_converged", tmp_path)
    garbage = bytes(range(256)) * 50
    with (run / "pw.out").open("ab") as handle:
        handle.write(b"\xff\xfe\x00" + garbage + b"\n\x80\x81 JOB DONE?\n")
    (run / "pw.exitcode").write_bytes(b"\xff\x00garbage")
    (run / "pw_input.json").write_bytes(garbage)
    (run / "pw.in").write_bytes(garbage)
    (run / "CRASH").write_bytes(garbage)
    assert PwError.SCF_NOT_CONVERGED in detect_errors(run)
    summarize_errors(run)
    explain(run)


def test_corrupt_xml_never_raises(tmp_path: Path) -> None:
    run = _copy("insufficient_bands", tmp_path)
    xml = run / "out" / "pwscf.xml"
    xml.write_bytes(xml.read_bytes()[:5000] + b"\x00\xff<<<")
    assert detect_errors(run) <= {PwError.INSUFFICIENT_BANDS}


def test_large_output_is_streamed_fast(tmp_path: Path) -> None:
    # ~50 MB: one pass, linear time (a quadratic scan would take minutes); ~1 s here.
    run = _copy("relax_success", tmp_path)
    text = (run / "pw.out").read_text()
    head, tail = text.split("bfgs converged in", 1)
    block = head[len(head) // 2 :]
    repeats = 50_000_000 // len(block)
    with (run / "pw.out").open("w") as handle:
        handle.write(head)
        for _ in range(repeats):
            handle.write(block)
        handle.write("bfgs converged in" + tail)
    start = time.perf_counter()
    assert detect_errors(run) == set()
    assert time.perf_counter() - start < 60


def test_unchanged_files_are_scanned_once_and_any_edit_rescans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Custodian asks each handler in turn; the directory is read once per change, not per ask.
    from htflow.qe import errors

    calls: list[Path] = []
    real = errors._scan_files

    def counting(directory: Path, inputs: dict) -> errors.RunScan:
        calls.append(directory)
        return real(directory, inputs)

    monkeypatch.setattr(errors, "_scan_files", counting)
    run = _copy("scf_not_converged", tmp_path)
    first = detect_errors(run)
    first.clear()  # callers get copies: mutating one changes no later answer
    assert detect_errors(run) == {PwError.SCF_NOT_CONVERGED}
    assert summarize_errors(run)
    assert len(calls) == 1
    # A same-size edit made at once (same mtime tick) is still seen: contents are digested.
    text = (run / "pw.out").read_text()
    edited = text.replace("convergence NOT achieved", "convergence NOT achieveD")
    assert len(edited) == len(text) and edited != text
    (run / "pw.out").write_text(edited)
    assert detect_errors(run) == real(run, PwRunDir(run).namelists()).errors
    assert len(calls) == 2
    (run / "pw_input.json").write_text(
        (run / "pw_input.json")
        .read_text()
        .replace('"electron_maxstep": 3', '"electron_maxstep": 3, "scf_must_converge": false')
    )
    detect_errors(run)
    assert len(calls) == 3
