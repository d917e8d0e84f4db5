"""Parse a pw.x run directory into a :class:`~htflow.qe.schemas.PwTaskDoc`.

The XML data file (``out/pwscf.xml``, else ``out/pwscf.save/data-file-schema.xml``, as
:meth:`~htflow.qe.rundir.PwRunDir.find_xml` finds it) is read first and pw.x's stdout
(``pw.out``) fills what the XML lacks, which is everything when the run crashed or was
killed before writing it. Nothing here raises on a failed
run: partial results are returned and the failure shows in the flags.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from htflow.qe.band_edges import BandEdges, band_edges
from htflow.qe.ionic_steps import structures_from_stdout
from htflow.qe.pwinput import PwInput
from htflow.qe.rundir import PwRunDir
from htflow.qe.schemas import PseudoRecord, PwInputSummary, PwOutput, PwTaskDoc
from htflow.qe.stdout_parser import StdoutData, parse_initial_structure, parse_stdout
from htflow.qe.xml_parser import XmlData, parse_xml

if TYPE_CHECKING:
    from pymatgen.core import Structure

CUSTODIAN_FILE = "custodian.json"
RELAX_CALCULATIONS = frozenset({"relax", "vc-relax", "md", "vc-md"})
NON_SCF_CALCULATIONS = frozenset({"nscf", "bands"})


def build_task_doc(directory: str | Path, **kwargs: Any) -> PwTaskDoc:
    """Build the task document of the pw.x run in ``directory``.

    Never raises on an unconverged, crashed or killed run: what the files hold is
    returned and ``state`` is 'failed'.

    Parameters
    ----------
    directory
        The pw.x run directory.
    **kwargs
        Set or override fields of the document (``task_label``, ``blas``, ``errors``, ...).
    """
    directory = Path(directory).resolve()
    run = PwRunDir(directory)
    xml, stdout, text = _load(run)
    summary = parse_input_summary(directory, stdout)
    calculation = _calculation(run, summary.pw_input, xml)
    output = _output(xml, stdout, text, calculation, summary.pw_input)
    structure = output.structure or _input_structure(summary.pw_input, text)
    fields: dict[str, Any] = {
        "dir_name": str(directory),
        "calculation": calculation,
        "structure": structure,
        "input": summary,
        "output": output,
        "completed": bool(stdout and stdout.job_done),
        "exit_code": run.exit_code(),
        "qe_version": (stdout and stdout.version) or (xml and xml.version),
        "custodian": parse_custodian(directory),
        "nprocs": (xml and xml.nprocs) or (stdout and stdout.nprocs),
        "n_pools": (xml and xml.n_pools) or (stdout and stdout.n_pools),
        "hosts": [host for host, _ in run.rank_hosts()],
    }
    fields.update(kwargs)
    if "state" not in kwargs:
        fields["state"] = _state(fields, output)
    return PwTaskDoc(**fields)


def parse_pw_output(directory: str | Path) -> PwOutput:
    """The results of the pw.x run in ``directory`` (empty when it produced nothing)."""
    run = PwRunDir(directory)
    xml, stdout, text = _load(run)
    pw_input = _read_pw_input(run)[0]
    return _output(xml, stdout, text, _calculation(run, pw_input, xml), pw_input)


def parse_last_structure(directory: str | Path) -> Structure | None:
    """The last complete structure of a run: for restarting a relax that stopped early.

    Read from the last complete ``ATOMIC_POSITIONS`` / ``CELL_PARAMETERS`` blocks of
    ``pw.out`` (relax, vc-relax), else from the XML data file. None when neither holds a
    structure (e.g. killed during the first SCF before writing anything).
    """
    run = PwRunDir(directory)
    xml, _, text = _load(run)
    pw_input = _read_pw_input(run)[0]
    last = _last_stdout_structure(text, pw_input, xml) if text else None
    return _first(last, xml.structure if xml else None)


def parse_pw_version(directory: str | Path) -> str | None:
    """The Quantum ESPRESSO version that ran in ``directory`` (e.g. '6.7MaX'), or None."""
    run = PwRunDir(directory)
    version = run.pw_version()
    if version:
        return version
    xml_path = run.find_xml()
    xml = parse_xml(xml_path) if xml_path else None
    return xml.version if xml else None


def parse_input_summary(directory: str | Path, stdout: StdoutData | None = None) -> PwInputSummary:
    """The run's PwInput (pw_input.json) and pseudopotentials with md5 (from pw.out)."""
    run = PwRunDir(directory)
    pw_input, family = _read_pw_input(run)
    if stdout is None:
        text = run.output_text()
        stdout = parse_stdout(text) if text else None
    # A vc-relax's final SCF reads the pseudopotentials again: keep one record per element.
    records = {
        element: PseudoRecord(element=element, filename=Path(path).name, md5=md5)
        for element, path, md5 in (stdout.pseudos if stdout else [])
    }
    pseudos = list(records.values())
    if not pseudos and pw_input is not None:
        pseudos = [
            PseudoRecord(element=s.symbol, filename=s.filename, md5=s.md5) for s in pw_input.species
        ]
    return PwInputSummary(pw_input=pw_input, pseudos=pseudos, pseudo_family=family)


def parse_custodian(directory: str | Path) -> list[dict[str, Any]]:
    """Every correction in ``custodian.json`` and the logs of earlier allocations, in order.

    ``run_pw`` keeps an earlier allocation's log as ``custodian.<n>.json``.
    """
    path = Path(directory)
    numbered = (
        (int(match.group(1)), log)
        for log in path.glob("custodian.*.json")
        if (match := re.fullmatch(r"custodian\.(\d+)\.json", log.name))
    )
    earlier = [log for _, log in sorted(numbered)]
    corrections: list[dict[str, Any]] = []
    for log in [*earlier, path / CUSTODIAN_FILE]:
        try:
            runs = json.loads(log.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(runs, list):
            continue
        corrections += [
            correction
            for run in runs
            if isinstance(run, dict)
            for correction in run.get("corrections", [])
            if isinstance(correction, dict)
        ]
    return corrections


def _load(run: PwRunDir) -> tuple[XmlData | None, StdoutData | None, str | None]:
    text = run.output_text()
    stdout = parse_stdout(text) if text is not None else None
    xml_path = run.find_xml()
    xml = parse_xml(xml_path) if xml_path is not None else None
    if xml and stdout and xml.created and stdout.started and xml.created < stdout.started:
        # Left over from an earlier run in this directory (e.g. before a restart).
        xml = None
    return xml, stdout, text


def _read_pw_input(run: PwRunDir) -> tuple[PwInput | None, str | None]:
    try:
        pw_input = PwInput.model_validate(run.input_data())
    except ValueError:  # no pw_input.json, or not a PwInput
        return None, None
    return pw_input, pw_input.pseudo_family


def _calculation(run: PwRunDir, pw_input: PwInput | None, xml: XmlData | None) -> str:
    if pw_input is not None and "calculation" in pw_input.control:
        return str(pw_input.control["calculation"])
    if xml is not None and xml.calculation:
        return xml.calculation
    control = run.input_file_namelists().get("control", {})
    return str(control.get("calculation", "scf")).lower()


def _output(
    xml: XmlData | None,
    stdout: StdoutData | None,
    text: str | None,
    calculation: str,
    pw_input: PwInput | None = None,
) -> PwOutput:
    x = xml or XmlData()
    s = stdout or StdoutData()
    # A run that stopped early may have left the XML of an earlier ionic step; its stdout
    # then knows more about where the run stood.
    stopped_early = stdout is not None and not stdout.job_done
    last = _last_stdout_structure(text, pw_input, xml) if text else None
    structure = _first(last, x.structure) if stopped_early else _first(x.structure, last)
    stress = _first(x.stress, s.stress)
    forces = _first(x.forces, s.forces)
    energy = _first(s.energies[-1] if s.energies else None, x.energy)
    scf = _scf(x, s, stopped_early)
    if calculation in NON_SCF_CALCULATIONS:
        # nscf/bands runs keep the SCF's energy in neither file; XML zeros are not results.
        energy, scf, stress, forces = None, (None, None), None, None
    edges = _edges(x, s)
    minus_ts = _first(x.smearing_energy, s.smearing_energy)
    if calculation in NON_SCF_CALCULATIONS:
        minus_ts = None
    return PwOutput(
        energy=energy,
        energy_per_atom=energy / len(structure) if energy is not None and structure else None,
        **_smearing_energies(energy, minus_ts),
        smearing_contribution=minus_ts,
        ionic_step_energies=s.energies,
        forces=forces.tolist() if forces is not None else None,
        stress=stress.tolist() if stress is not None else None,
        pressure=float(np.trace(stress)) / 3 if stress is not None else None,
        structure=structure,
        efermi=_first(x.efermi, s.efermi, x.homo, s.homo),
        homo=edges.homo,
        lumo=edges.lumo,
        band_gap=edges.band_gap,
        direct_gap=edges.direct_gap,
        is_gap_direct=edges.is_gap_direct,
        is_metal=edges.is_metal,
        total_magnetization=_first(x.total_magnetization, s.total_magnetization),
        absolute_magnetization=_first(x.absolute_magnetization, s.absolute_magnetization),
        n_scf_steps=scf[1],
        n_ionic_steps=len(s.energies) if stdout else int(energy is not None),
        scf_converged=scf[0],
        ionic_converged=_ionic_converged(x, s, calculation, stopped_early),
        n_kpoints=_first(x.n_kpoints, s.n_kpoints),
        n_bands=_first(x.n_bands, s.n_bands),
        wall_time=_first(x.wall_time, s.wall_time),
        cpu_time=_first(x.cpu_time, s.cpu_time),
    )


def _scf(xml: XmlData, stdout: StdoutData, stopped_early: bool) -> tuple[bool | None, int | None]:
    """(converged, number of iterations) of the last SCF."""
    if stopped_early and stdout.scf_converged is not None:
        return stdout.scf_converged, stdout.n_scf_steps
    return (
        _first(xml.scf_converged, stdout.scf_converged),
        _first(xml.n_scf_steps, stdout.n_scf_steps),
    )


def _edges(xml: XmlData, stdout: StdoutData) -> BandEdges:
    if xml.eigenvalues is not None and xml.occupations is not None:
        return band_edges(
            xml.eigenvalues,
            xml.occupations,
            efermi=xml.efermi,
            fixed_occupations=xml.occupations_kind == "fixed",
            k_weights=xml.k_weights,
        )
    if stdout.homo is not None and stdout.lumo is not None:
        gap = max(stdout.lumo - stdout.homo, 0.0)
        return BandEdges(homo=stdout.homo, lumo=stdout.lumo, band_gap=gap, is_metal=False)
    return BandEdges()


def _smearing_energies(energy: float | None, minus_ts: float | None) -> dict[str, float | None]:
    if energy is None or minus_ts is None:
        return {"free_energy": None, "energy_no_smearing": None}
    # energy is F = E - TS and minus_ts is -TS, so E = F - minus_ts and (F + E) / 2 follows.
    return {"free_energy": energy, "energy_no_smearing": energy - minus_ts / 2}


def _ionic_converged(
    xml: XmlData, stdout: StdoutData, calculation: str, stopped_early: bool
) -> bool | None:
    if calculation not in RELAX_CALCULATIONS:
        return None
    if stopped_early:
        return False
    verdict = _first(xml.ionic_converged, stdout.ionic_converged)
    return bool(verdict)


def _last_stdout_structure(
    text: str, pw_input: PwInput | None, xml: XmlData | None
) -> Structure | None:
    # The input's own cell is exact; pw.x's header echoes it with six decimals only.
    if pw_input is not None:
        initial: Structure | None = pw_input.structure
        alat: float | None = float(np.linalg.norm(pw_input.lattice[0]))
    else:
        initial = xml.input_structure if xml else None
        alat = xml.alat if xml else None
    structures = structures_from_stdout(text, initial, alat)
    return structures[-1] if structures else None


def _input_structure(pw_input: PwInput | None, text: str | None) -> Structure | None:
    if pw_input is not None:
        return pw_input.structure
    return parse_initial_structure(text) if text else None


def _state(fields: dict[str, Any], output: PwOutput) -> str:
    ok = (
        fields["completed"]
        and fields["exit_code"] in (0, None)
        and output.scf_converged is not False
        and output.ionic_converged is not False
        and not fields.get("errors")
    )
    return "successful" if ok else "failed"


def _first(*values: Any) -> Any:
    """The first value that is not None."""
    return next((v for v in values if v is not None), None)
