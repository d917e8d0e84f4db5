"""Replay of recorded VASP runs for tests: the logic behind the stand-in ``vasp`` executable.

VASP is licensed and cannot run in tests. The stand-in (``python -m htflow.testing.fake_vasp``)
is launched by custodian's ``VaspJob`` exactly where VASP would be, through the command of the
cluster profile. It reads the replay manifest named by ``$HTFLOW_VASP_REPLAY`` and, in the run
directory it is started in:

1. picks the manifest entry: by the job name in ``htflow_job.json`` (written by
   :mod:`htflow.vasp.flows`), else the manifest's ``default`` key; a key may list several
   entries, used in turn by successive run directories;
2. checks the INCAR, KPOINTS and POSCAR it finds against the recorded inputs and exits with
   code 3 listing every mismatch;
3. per attempt (counted in ``.htflow_replay.json`` in the run directory, so a rerun after a
   custodian correction is the next attempt) either prints a recorded VASP stdout (a failure,
   which custodian's handlers read in ``vasp.out``) or copies the recorded outputs
   (gunzipped). Attempts past the end of the list repeat the last one.

Manifest (JSON)::

    {"default": "relax",
     "jobs": {"relax": {"recorded": "/path/postprocess",
                        "attempts": [{"mode": "fail", "stdout": "/path/vasp.zbrent"},
                                     {"mode": "succeed", "incar_expect": {"EDIFF": 2e-5}}]}}}
"""

from __future__ import annotations

import fcntl
import gzip
import json
import math
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from htflow.testing.vasp_inputs import read_incar, read_kpoints, read_poscar, unmatched_sites

REPLAY_ENV = "HTFLOW_VASP_REPLAY"
InputName = Literal["incar", "kpoints", "poscar"]
ALL_INPUTS: tuple[InputName, ...] = ("incar", "kpoints", "poscar")
RUN_STATE_FILE = ".htflow_replay.json"
JOB_MARKER = "htflow_job.json"
MISMATCH_EXIT = 3
# Outputs copied on success when the recorded directory has them (plain or .gz).
DEFAULT_OUTPUTS = ("vasprun.xml", "OUTCAR", "OSZICAR", "CONTCAR")
# INCAR tags that decide what a run computes: absent from the generated INCAR is a mismatch
# when the recording sets them.
REQUIRED_INCAR = ("ENCUT", "EDIFF", "ISMEAR", "ISPIN", "IBRION", "ISIF", "NSW", "LDAU")


class Attempt(BaseModel):
    """What one VASP start does."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["succeed", "fail"] = Field("succeed", description="Copy outputs, or fail.")
    stdout: Path | None = Field(None, description="Recorded VASP stdout printed (mode fail).")
    exit_code: int = Field(1, description="Exit code of a failing attempt.")
    outputs: dict[str, str] | None = Field(
        None,
        description="Run-directory name → file in the recorded directory; None copies "
        "vasprun.xml, OUTCAR, OSZICAR, CONTCAR where recorded.",
    )
    incar_expect: dict[str, Any] = Field(
        default_factory=dict,
        description="INCAR values expected at this attempt over the recorded ones "
        "(a custodian correction applied before it).",
    )


class ReplayEntry(BaseModel):
    """One recorded run and how to replay it."""

    model_config = ConfigDict(extra="forbid")

    recorded: Path = Field(description="Directory with the recorded INCAR/KPOINTS/POSCAR.")
    attempts: list[Attempt] = Field(default_factory=lambda: [Attempt()], min_length=1)
    check: list[InputName] = Field(
        default_factory=lambda: list(ALL_INPUTS), description="Inputs checked."
    )
    incar_ignore: list[str] = Field(
        default_factory=list, description="INCAR tags not compared (upper case)."
    )
    rtol: float = Field(1e-6, description="Relative tolerance of float INCAR values.")
    coord_tol: float = Field(1e-3, description="Fractional-coordinate tolerance of POSCAR.")


class ReplayManifest(BaseModel):
    """Job name → recorded runs."""

    model_config = ConfigDict(extra="forbid")

    jobs: dict[str, list[ReplayEntry]] = Field(description="Entries per job name, in turn.")
    default: str | None = Field(None, description="Key for run directories without a marker.")

    @field_validator("jobs", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value


class ReplayError(Exception):
    """The replay cannot proceed (manifest missing, no entry for the job, inputs mismatch)."""


def write_manifest(path: Path, jobs: dict[str, Any], default: str | None = None) -> Path:
    """Validate and write a replay manifest; returns ``path``."""
    manifest = ReplayManifest.model_validate({"jobs": jobs, "default": default})
    path.write_text(manifest.model_dump_json(indent=1))
    return path


def load_manifest(path: Path) -> ReplayManifest:
    """Read a replay manifest."""
    if not path.is_file():
        raise ReplayError(f"replay manifest {path} not found (set {REPLAY_ENV})")
    return ReplayManifest.model_validate_json(path.read_text())


def _select(manifest_path: Path, manifest: ReplayManifest, run_dir: Path) -> tuple[str, int]:
    """Key and entry index for a new run directory; successive directories take turns."""
    marker = run_dir / JOB_MARKER
    key = json.loads(marker.read_text()).get("job_name") if marker.is_file() else None
    if key not in manifest.jobs:
        key = manifest.default
    if key is None or key not in manifest.jobs:
        raise ReplayError(f"no replay entry for the job in {run_dir} (marker job name {key!r})")
    lock_path = manifest_path.with_suffix(".state.json")
    with open(lock_path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used = json.loads(lock_path.read_text()) if lock_path.is_file() else {}
        index = used.get(key, 0)
        used[key] = index + 1
        lock_path.write_text(json.dumps(used))
    return key, min(index, len(manifest.jobs[key]) - 1)


def _same(expected: Any, found: Any, rtol: float) -> bool:
    if isinstance(expected, list | tuple) or isinstance(found, list | tuple):
        exp = list(expected) if isinstance(expected, list | tuple) else [expected]
        got = list(found) if isinstance(found, list | tuple) else [found]
        return len(exp) == len(got) and all(
            _same(e, g, rtol) for e, g in zip(exp, got, strict=True)
        )
    if isinstance(expected, bool) or isinstance(found, bool):
        return bool(expected) == bool(found) and type(expected) is type(found)
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return math.isclose(expected, found, rel_tol=rtol, abs_tol=1e-12)
    return str(expected).strip().lower() == str(found).strip().lower()


def check_incar(entry: ReplayEntry, attempt: Attempt, run_dir: Path) -> list[str]:
    """Mismatches between the run directory's INCAR and the recorded one (plus expectations).

    Compared: every tag both INCARs set. A recorded tag the run omits is a mismatch for the
    tags that decide what is computed (REQUIRED_INCAR) and for the attempt's expectations.
    """
    if not (run_dir / "INCAR").is_file():
        return ["INCAR: not written"]
    recorded = read_incar(entry.recorded / "INCAR")
    expected = {k.upper(): v for k, v in attempt.incar_expect.items()}
    recorded.update(expected)
    found = read_incar(run_dir / "INCAR")
    ignore = {k.upper() for k in entry.incar_ignore}
    problems = []
    for key in sorted(set(recorded) - ignore):
        if key not in found:
            if key in REQUIRED_INCAR or key in expected:
                problems.append(f"INCAR {key}: expected {recorded[key]!r}, absent")
            continue
        if not _same(recorded[key], found[key], entry.rtol):
            problems.append(f"INCAR {key}: expected {recorded[key]!r}, got {found[key]!r}")
    return problems


def check_kpoints(entry: ReplayEntry, run_dir: Path) -> list[str]:
    """Mismatches of the k-point sampling (KPOINTS file, or KSPACING without one)."""
    recorded_file = entry.recorded / "KPOINTS"
    found_file = run_dir / "KPOINTS"
    if not recorded_file.is_file():
        return ["KPOINTS: written, but the recording uses KSPACING"] if found_file.is_file() else []
    if not found_file.is_file():
        return ["KPOINTS: absent, but the recording has a KPOINTS file"]
    recorded, found = read_kpoints(recorded_file), read_kpoints(found_file)
    if recorded.mesh is None or found.mesh is None:
        same = recorded.text == found.text
        return [] if same else ["KPOINTS: explicit k-points differ from the recording"]
    problems = []
    if recorded.style != found.style:
        problems.append(f"KPOINTS style: expected {recorded.style}, got {found.style}")
    if recorded.mesh != found.mesh:
        problems.append(f"KPOINTS mesh: expected {recorded.mesh}, got {found.mesh}")
    return problems


def check_poscar(entry: ReplayEntry, run_dir: Path) -> list[str]:
    """Mismatches of species, counts, lattice and fractional coordinates (periodic)."""
    if not (run_dir / "POSCAR").is_file():
        return ["POSCAR: not written"]
    recorded = read_poscar(entry.recorded / "POSCAR")
    found = read_poscar(run_dir / "POSCAR")
    if recorded.species != found.species or recorded.counts != found.counts:
        return [
            f"POSCAR species: expected {recorded.species} {recorded.counts}, "
            f"got {found.species} {found.counts}"
        ]
    problems = []
    if not all(
        math.isclose(a, b, rel_tol=1e-4)
        for a, b in zip(recorded.parameters, found.parameters, strict=True)
    ):
        problems.append(f"POSCAR lattice: expected {recorded.parameters}, got {found.parameters}")
    off = unmatched_sites(recorded.frac_coords, found.frac_coords, entry.coord_tol)
    if off:
        problems.append(f"POSCAR sites {off}: not at recorded positions")
    return problems


def _copy_output(source: Path, dest: Path) -> None:
    gz = source if source.suffix == ".gz" else source.with_name(source.name + ".gz")
    if source.is_file() and source.suffix != ".gz":
        shutil.copyfile(source, dest)
    elif gz.is_file():
        with gzip.open(gz, "rb") as fin, open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        raise ReplayError(f"recorded output {source} not found")


def copy_outputs(entry: ReplayEntry, attempt: Attempt, run_dir: Path) -> list[str]:
    """Copy the recorded outputs into ``run_dir``; returns the names written."""
    mapping = attempt.outputs
    if mapping is None:
        mapping = {
            name: name
            for name in DEFAULT_OUTPUTS
            if (entry.recorded / name).is_file() or (entry.recorded / f"{name}.gz").is_file()
        }
    for dest, source in mapping.items():
        _copy_output(entry.recorded / source, run_dir / dest)
    return sorted(mapping)


def replay(run_dir: Path, manifest_path: Path) -> tuple[int, str, str]:
    """Replay one VASP start in ``run_dir``: returns (exit code, stdout text, stderr text)."""
    manifest = load_manifest(manifest_path)
    state_path = run_dir / RUN_STATE_FILE
    if state_path.is_file():
        state = json.loads(state_path.read_text())
    else:
        key, index = _select(manifest_path, manifest, run_dir)
        state = {"key": key, "index": index, "attempts": 0}
    entry = manifest.jobs[state["key"]][state["index"]]
    state["attempts"] += 1
    state_path.write_text(json.dumps(state))
    attempt = entry.attempts[min(state["attempts"], len(entry.attempts)) - 1]
    problems: list[str] = []
    if "incar" in entry.check:
        problems += check_incar(entry, attempt, run_dir)
    if "kpoints" in entry.check:
        problems += check_kpoints(entry, run_dir)
    if "poscar" in entry.check:
        problems += check_poscar(entry, run_dir)
    label = f"replay of {entry.recorded} (job {state['key']!r}, attempt {state['attempts']})"
    if problems:
        return (
            MISMATCH_EXIT,
            "",
            f"{label}: inputs differ from the recording:\n  " + "\n  ".join(problems),
        )
    if attempt.mode == "fail":
        if attempt.stdout is None:
            raise ReplayError(f"{label}: a failing attempt needs the recorded stdout")
        stdout = _read_text(attempt.stdout)
        return attempt.exit_code, stdout, ""
    written = copy_outputs(entry, attempt, run_dir)
    return 0, f"{label}: wrote {', '.join(written)}\n", ""


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", errors="replace") as handle:
            return handle.read()
    return path.read_text(errors="replace")
