"""The one place where pw.x, dos.x and projwfc.x start.

:func:`run_pw` builds the MPI command from the settings, picks the number of k-point
pools, bounds the run by the allocation's remaining walltime and supervises pw.x with
Custodian and htflow's QE error handlers, which leave their audit trail in
``custodian.json``. :func:`run_qe_tool` starts the post-processing programs.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from custodian import Custodian
from custodian.custodian import CustodianError, Job

from htflow.exceptions import CalculationFailedError, WalltimeExhaustedError
from htflow.qe.outputs import parse_custodian
from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PW_INPUT_FILE
from htflow.settings import HtflowSettings, get_settings
from htflow.walltime import seconds_left

if TYPE_CHECKING:
    from custodian.custodian import ErrorHandler

QeProgram = Literal["pw", "dos", "projwfc"]
# Each rank appends "<host> <start time>" to <stem>.hosts, then becomes the program itself
# (exec: same pid, so signals, exit codes and MPI see the program). With srun steps or MPI
# across nodes this is the only record of where a calculation ran; $0 is the stem.
RANK_HOST_RECORDER = 'echo "$(uname -n) $(date +%s.%N)" >> "$0.hosts"; exec "$@"'


def run_environment() -> dict[str, str]:
    """Environment for QE processes: one BLAS thread per MPI rank, mpirun allowed as root."""
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["OMP_NUM_THREADS"] = env.get("HTFLOW_OMP_NUM_THREADS", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    # LAXlib aborts through MPI; unbuffered gfortran units keep its message in pw.out.
    env.setdefault("GFORTRAN_UNBUFFERED_PRECONNECTED", "y")
    return env


def irreducible_kpoint_count(pw_input: PwInput) -> int:
    """Number of k-points pw.x will treat after symmetry reduction (an estimate for pools)."""
    kpoints = pw_input.kpoints
    if kpoints.mode == "gamma":
        return 1
    if kpoints.mode != "automatic":
        return max(1, len(kpoints.points))
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        analyzer = SpacegroupAnalyzer(pw_input.structure, symprec=1e-5)
        mesh = analyzer.get_ir_reciprocal_mesh(kpoints.mesh, is_shift=kpoints.shift)
        count = len(mesh)
    except Exception:  # spglib fails on odd cells; then assume no symmetry
        count = kpoints.mesh[0] * kpoints.mesh[1] * kpoints.mesh[2]
    nspin = int(pw_input.system.get("nspin", 1))
    return max(1, count) * (2 if nspin == 2 else 1)


def choose_npool(n_kpoints: int, n_ranks: int) -> int:
    """Largest pool count that divides the ranks and does not exceed the k-points.

    K-point parallelisation is nearly perfect while every pool has work, so as many
    pools as possible beat plane-wave parallelisation at the small rank counts of a
    high-throughput job.
    """
    for npool in range(min(n_kpoints, n_ranks), 0, -1):
        if n_ranks % npool == 0:
            return npool
    return 1


def build_command(
    program: QeProgram,
    settings: HtflowSettings,
    n_ranks: int | None = None,
    npool: int = 1,
    record_hosts: bool = False,
) -> list[str]:
    """The argv that starts ``program`` under the configured MPI launcher.

    With ``record_hosts`` each rank first appends its host and start time to
    ``<program>.hosts`` in the run directory (:data:`RANK_HOST_RECORDER`).
    """
    executable = {"pw": settings.pw_cmd, "dos": settings.dos_cmd, "projwfc": settings.projwfc_cmd}[
        program
    ]
    ranks = settings.mpi_ranks if n_ranks is None else n_ranks
    argv = executable.split()
    if npool > 1:
        argv += ["-nk", str(npool)]
    if record_hosts:
        argv = ["sh", "-c", RANK_HOST_RECORDER, program, *argv]
    if settings.mpi_launcher == "none" or (settings.mpi_launcher == "mpirun" and ranks == 1):
        return argv
    if settings.mpi_launcher == "srun":
        return ["srun", "-n", str(ranks), *settings.mpi_extra_args, *argv]
    return ["mpirun", "-np", str(ranks), *settings.mpi_extra_args, *argv]


def blas_library(executable: str = "pw.x") -> str | None:
    """Path of the BLAS library ``executable`` loads, resolved through Debian's alternatives."""
    path = shutil.which(executable.split(maxsplit=1)[0])
    if path is None:
        return None
    # ldd costs a process per run; within one process the answer changes only with the
    # executable's file (a switch of Debian's BLAS alternative shows in the next process).
    stat = Path(path).stat()
    return _blas_of(path, stat.st_ino, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _blas_of(path: str, inode: int, mtime_ns: int) -> str | None:
    """``blas_library`` for one version of the executable file (the stat fields are the key)."""
    del inode, mtime_ns
    try:
        ldd = subprocess.run(
            ["ldd", path], check=False, capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in ldd.splitlines():
        name, _, target = line.partition("=>")
        if "libblas" in name or "openblas" in name:
            target_path = target.split("(")[0].strip()
            return str(Path(target_path).resolve()) if target_path else name.strip()
    return None


class _RecordingPopen(subprocess.Popen):
    """A Popen that writes its exit code into the run directory once it is known.

    Custodian waits on the process itself and checks the handlers before
    ``Job.postprocess``; the handlers need the exit code, so it is written here.
    """

    exitcode_path: Path | None = None

    def _record(self) -> None:
        if self.returncode is not None and self.exitcode_path is not None:
            self.exitcode_path.write_text(f"{self.returncode}\n")
            self.exitcode_path = None

    def wait(self, timeout: float | None = None) -> int:
        code = super().wait(timeout)
        self._record()
        return code

    def poll(self) -> int | None:
        code = super().poll()
        self._record()
        return code


class QeJob(Job):
    """A Custodian job that runs one QE program on ``<stem>.in`` in its directory."""

    def __init__(self, argv: list[str], stem: str = "pw", env: dict[str, str] | None = None):
        self.argv = list(argv)
        self.stem = stem
        self.env = env
        self._process: _RecordingPopen | None = None

    def setup(self, directory: str = "./") -> None:
        for stale in (f"{self.stem}.exitcode", "CRASH"):
            (Path(directory) / stale).unlink(missing_ok=True)

    def run(self, directory: str = "./") -> subprocess.Popen:
        path = Path(directory)
        # A failed attempt's output is evidence: keep it as <stem>.<n>.out beside the next.
        for kept in (f"{self.stem}.out", f"{self.stem}.err", f"{self.stem}.hosts", "CRASH"):
            _rotate(path / kept)
        with (
            open(path / f"{self.stem}.out", "w") as stdout,
            open(path / f"{self.stem}.err", "w") as stderr,
        ):
            process = _RecordingPopen(
                [*self.argv, "-in", f"{self.stem}.in"],
                cwd=path,
                stdout=stdout,
                stderr=stderr,
                env=self.env or run_environment(),
                start_new_session=True,
            )
        process.exitcode_path = path / f"{self.stem}.exitcode"
        self._process = process
        return process

    def postprocess(self, directory: str = "./") -> None:
        if self._process is not None:
            self._process.poll()

    def terminate(self, directory: str = "./") -> None:
        """Stop the whole process group (mpirun and its ranks), politely first."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def apply_walltime(pw_input: PwInput, settings: HtflowSettings) -> PwInput:
    """Bound pw.x by the allocation's remaining time so it stops cleanly and can restart."""
    remaining = seconds_left(settings=settings)
    if remaining is None:
        return pw_input
    max_seconds = max(60.0, float(int(remaining)))
    current = pw_input.control.get("max_seconds")
    if isinstance(current, int | float) and current <= max_seconds:
        return pw_input
    return pw_input.updated(control={"max_seconds": max_seconds})


def default_handlers() -> list[ErrorHandler]:
    """Fresh QE error handlers for one run (never reused: handlers hold escalation state)."""
    from htflow.qe.handlers import default_pw_handlers

    return list(default_pw_handlers())


def run_pw(
    directory: str | Path = ".",
    handlers: list[ErrorHandler] | None = None,
    n_ranks: int | None = None,
    max_corrections: int | None = None,
    **custodian_kwargs: Any,
) -> dict[str, Any]:
    """Run pw.x on ``pw.in`` in ``directory`` under Custodian with the QE handlers.

    Parameters
    ----------
    directory
        Run directory holding ``pw.in`` and ``pw_input.json``.
    handlers
        Custodian handlers; default: a fresh set of htflow's QE handlers.
    n_ranks
        MPI ranks; default: the ``mpi_ranks`` setting.
    max_corrections
        Corrections allowed before giving up; default: the ``max_corrections`` setting.

    Returns
    -------
    dict
        ``command``, ``npool``, ``n_ranks``, ``blas`` and the Custodian ``corrections`` of
        every allocation so far (earlier logs are kept as ``custodian.<n>.json``).

    Raises
    ------
    WalltimeExhaustedError
        When the allocation ran out of time; the input is ready for the next one.
    CalculationFailedError
        When the handlers cannot repair the run; the message names the cause.
    """
    settings = get_settings()
    path = Path(directory).resolve()
    pw_input = PwInput.from_directory(path)
    bounded = apply_walltime(pw_input, settings)
    if bounded is not pw_input:
        bounded.write(path)
    ranks = settings.mpi_ranks if n_ranks is None else n_ranks
    # One rank has one pool; skipping the symmetry analysis saves ~30 ms per run and the
    # import of pymatgen's symmetry module in a worker whose runs are all serial.
    npool = choose_npool(irreducible_kpoint_count(bounded), ranks) if ranks > 1 else 1
    argv = build_command("pw", settings, n_ranks=ranks, npool=npool, record_hosts=True)
    job = QeJob(argv, stem="pw")
    _rotate(path / Custodian.LOG_FILE)
    custodian = Custodian(
        handlers if handlers is not None else default_handlers(),
        [job],
        max_errors=settings.max_corrections if max_corrections is None else max_corrections,
        # Used when a handler is a monitor (the default set has GhostStateMonitor; without
        # monitors Custodian simply waits on the process). Custodian sleeps a whole polling
        # step before it first looks at the process and notices its end a step late, so a
        # short step (5 ms: a sleep and a poll) keeps short runs short (benchmarks/overhead.py
        # measured a 20 ms step at +0.01 to +0.04 on the packed/plain ratio of 1-s runs);
        # monitors every 10 s.
        polling_time_step=0.005,
        monitor_freq=2000,
        directory=str(path),
        **custodian_kwargs,
    )
    summary: dict[str, Any] = {
        "command": argv,
        "npool": npool,
        "n_ranks": ranks,
        "blas": blas_library(settings.pw_cmd),
    }
    try:
        custodian.run()
    except CustodianError as exc:
        if _prepared_for_next_allocation(path):
            raise WalltimeExhaustedError(
                f"pw.x in {path} ran out of allocation time; its input is prepared: "
                "run it again in the next allocation"
            ) from exc
        raise CalculationFailedError(failure_message(path, exc)) from exc
    finally:
        summary["corrections"] = parse_custodian(path)
    return summary


def run_qe_tool(program: QeProgram, directory: str | Path = ".", n_ranks: int = 1) -> None:
    """Run dos.x or projwfc.x (``<program>.in`` → ``<program>.out``) in ``directory``."""
    settings = get_settings()
    path = Path(directory).resolve()
    job = QeJob(build_command(program, settings, n_ranks=n_ranks), stem=program)
    job.setup(str(path))
    process = job.run(str(path))
    code = process.wait()
    if code != 0:
        tail = _tail(path / f"{program}.out")
        raise CalculationFailedError(f"{program}.x failed with exit code {code} in {path}: {tail}")


def _rotate(path: Path) -> None:
    """Keep an earlier attempt's file as ``<stem>.<n><suffix>`` instead of overwriting it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    n = 1
    while (target := path.with_name(f"{path.stem}.{n}{path.suffix}")).exists():
        n += 1
    path.rename(target)


def _prepared_for_next_allocation(directory: Path) -> bool:
    """True when the walltime handler stopped because the allocation has no time left."""
    return any("prepared_for_next_run" in c for c in parse_custodian(directory)[-1:])


def failure_message(directory: Path, exc: Exception) -> str:
    """One line saying why pw.x could not be brought to a result."""
    from htflow.qe.error_messages import explain

    reason = explain(directory)
    return f"pw.x failed in {directory}: {reason or exc}"


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return " | ".join(lines[-n:])


__all__ = ["PW_INPUT_FILE", "QeJob", "build_command", "choose_npool", "run_pw", "run_qe_tool"]
