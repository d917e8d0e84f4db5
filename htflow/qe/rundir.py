"""The layout of a pw.x run directory: the one place that knows where each file is.

A run directory written by htflow holds the input twice (``pw.in`` for pw.x and
``pw_input.json`` for the handlers), pw.x's stdout and stderr (``pw.out``, ``pw.err``),
the exit status recorded by :mod:`htflow.qe.run` (``pw.exitcode``), pw.x's ``CRASH`` file
and its outdir (``out/``) with the data-file XML (``<prefix>.xml``) and the save dir
(``<prefix>.save``: charge density, wavefunctions, ``data-file-schema.xml``).

Detection (:mod:`htflow.qe.errors`), correction (:mod:`htflow.qe.handlers`) and parsing
(:mod:`htflow.qe.outputs`) all find files through :class:`PwRunDir`. Its readers never
raise on a missing, truncated or binary file: they return None (or nothing) instead.
Standard library only, so that detection stays cheap to import.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

PW_INPUT_FILE = "pw.in"
PW_INPUT_JSON = "pw_input.json"
PW_OUTPUT_FILE = "pw.out"
PW_STDERR_FILE = "pw.err"
PW_EXITCODE_FILE = "pw.exitcode"
PW_HOSTS_FILE = "pw.hosts"
CRASH_FILE = "CRASH"
NAMELISTS = ("control", "system", "electrons", "ions", "cell")
# htflow's inputs always set these; they are also what a run without them is read with.
OUTDIR = "out"
PREFIX = "pwscf"
DATA_FILE_XML = "data-file-schema.xml"
CHARGE_DENSITY_FILES = ("charge-density.dat", "charge-density.hdf5")

# pw.out's header line: version, start date and time. It is within the first lines.
PW_HEADER = re.compile(r"Program PWSCF v\.(\S+) starts on\s+(\S+)\s+at\s+([\d: ]+?)\s*$", re.M)
_HEADER_CHARS = 4000
_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")
_ASSIGNMENT = re.compile(r"([A-Za-z_][\w()%,]*?)\s*=\s*('[^']*'|\"[^\"]*\"|[^,\s]+)")


@dataclass(frozen=True)
class PwRunDir:
    """A pw.x run directory: where its files are and how to read them without raising.

    Parameters
    ----------
    path
        The run directory (not resolved: paths derived from it keep its form).
    """

    path: Path

    def __init__(self, path: str | Path = ".") -> None:
        object.__setattr__(self, "path", Path(path))

    # ------------------------------------------------------------------------- files

    @property
    def input_file(self) -> Path:
        """``pw.in``, the input pw.x reads."""
        return self.path / PW_INPUT_FILE

    @property
    def input_json(self) -> Path:
        """``pw_input.json``, the input as data (what handlers load and write back)."""
        return self.path / PW_INPUT_JSON

    @property
    def output_file(self) -> Path:
        """``pw.out``, pw.x's standard output."""
        return self.path / PW_OUTPUT_FILE

    @property
    def stderr_file(self) -> Path:
        """``pw.err``, pw.x's standard error."""
        return self.path / PW_STDERR_FILE

    @property
    def exitcode_file(self) -> Path:
        """``pw.exitcode``, the exit status :mod:`htflow.qe.run` records when pw.x ends."""
        return self.path / PW_EXITCODE_FILE

    @property
    def hosts_file(self) -> Path:
        """``pw.hosts``: one line per MPI rank of the last run, ``<host> <start unix time>``."""
        return self.path / PW_HOSTS_FILE

    def rank_hosts(self, hosts_file: Path | None = None) -> list[tuple[str, float]]:
        """(host, start time in s since the epoch) of each rank of the last run, in start order.

        Written by each rank as it starts (:func:`htflow.qe.run.build_command`); empty when
        the file is missing. Unreadable lines are skipped. ``hosts_file``: an earlier
        attempt's record (``pw.<n>.hosts``) instead of the last run's.
        """
        try:
            lines = (hosts_file or self.hosts_file).read_text(errors="replace").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            words = line.split()
            try:
                out.append((words[0], float(words[1])))
            except (IndexError, ValueError):
                continue
        return sorted(out, key=lambda entry: entry[1])

    @property
    def crash_file(self) -> Path:
        """``CRASH``, written by pw.x when it stops on an error."""
        return self.path / CRASH_FILE

    def out_dir(self, control: Mapping[str, Any] | None = None) -> Path:
        """pw.x's ``outdir`` (``out`` when the ``control`` namelist sets none)."""
        return self.path / str((control or {}).get("outdir", OUTDIR))

    def save_dir(self, control: Mapping[str, Any] | None = None) -> Path:
        """``<outdir>/<prefix>.save``: charge density, wavefunctions, data-file XML."""
        return self.out_dir(control) / f"{_prefix(control)}.save"

    def data_file_xml(self, control: Mapping[str, Any] | None = None) -> Path:
        """``<outdir>/<prefix>.xml``, the data file pw.x writes at the end of a run."""
        return self.out_dir(control) / f"{_prefix(control)}.xml"

    def saved_xml(self, control: Mapping[str, Any] | None = None) -> Path:
        """``<outdir>/<prefix>.save/data-file-schema.xml``, the save dir's copy of the XML."""
        return self.save_dir(control) / DATA_FILE_XML

    def scf_restart_file(self, control: Mapping[str, Any] | None = None) -> Path:
        """``<outdir>/<prefix>.restart_scf``, the scf checkpoint of ``restart_mode='restart'``."""
        return self.out_dir(control) / f"{_prefix(control)}.restart_scf"

    def find_xml(self) -> Path | None:
        """The non-empty data-file XML of the default layout (``out/pwscf.xml`` first)."""
        for path in (self.data_file_xml(), self.saved_xml()):
            if path.is_file() and path.stat().st_size > 0:
                return path
        return None

    # ------------------------------------------------------------------- restart files

    def has_charge_density(self, control: Mapping[str, Any] | None = None) -> bool:
        """True when the save dir holds a charge density and a complete data-file XML.

        pw.x 6.7 writes both also when the scf did not converge or stopped on max_seconds
        (checked by running it); the XML is written after the density, so a complete XML
        means the density file is complete too.
        """
        save = self.save_dir(control)
        density = any((save / name).is_file() for name in CHARGE_DENSITY_FILES)
        xml = save / DATA_FILE_XML
        if not (density and xml.is_file()):
            return False
        try:
            ET.parse(xml)
        except ET.ParseError:
            return False
        return True

    def has_wavefunctions(self, control: Mapping[str, Any] | None = None) -> bool:
        """True when pw.x can read ``startingwfc='file'``.

        A converged run collects them in the save dir (``wfc*.dat``); a run that stopped
        early leaves only the per-process ``<prefix>.wfc<N>`` files in outdir.
        """
        save = self.save_dir(control)
        return any(save.glob("wfc*.dat")) or any(save.parent.glob(f"{_prefix(control)}.wfc*"))

    # ------------------------------------------------------------------------ readers

    def output_text(self, limit: int | None = None) -> str | None:
        """The text of ``pw.out`` (its first ``limit`` characters); None when unreadable."""
        try:
            with self.output_file.open(errors="replace") as handle:
                return handle.read(limit)
        except OSError:
            return None

    def exit_code(self) -> int | None:
        """pw.x's exit code from ``pw.exitcode``; None when absent (killed) or unreadable."""
        try:
            return int(self.exitcode_file.read_text(errors="replace").strip())
        except (OSError, ValueError):
            return None

    def pw_version(self) -> str | None:
        """The version in the ``pw.out`` header (``Program PWSCF v.6.7MaX``: '6.7MaX')."""
        match = PW_HEADER.search(self.output_text(limit=_HEADER_CHARS) or "")
        return match.group(1) if match else None

    def pw_version_number(self) -> tuple[int, int] | None:
        """The (major, minor) version from the ``pw.out`` header, e.g. (6, 7)."""
        match = _MAJOR_MINOR.match(self.pw_version() or "")
        return (int(match.group(1)), int(match.group(2))) if match else None

    def input_data(self) -> Any:
        """The parsed ``pw_input.json`` as it stands (not validated); None when unreadable."""
        try:
            return json.loads(self.input_json.read_text())
        except (OSError, ValueError):
            return None

    def namelists(self) -> dict[str, dict[str, Any]]:
        """Namelists (lower-case keys) from ``pw_input.json``, else parsed from ``pw.in``.

        Tolerant where :meth:`htflow.qe.pwinput.PwInput.from_directory` is strict: a JSON
        input that no longer validates still gives its namelists.
        """
        data = self.input_data()
        try:
            return {name: dict(data.get(name) or {}) for name in NAMELISTS}
        except (ValueError, TypeError, AttributeError):
            return self.input_file_namelists()

    def input_file_namelists(self) -> dict[str, dict[str, Any]]:
        """Namelists (lower-case keys) parsed from ``pw.in``; Fortran values as Python."""
        namelists: dict[str, dict[str, Any]] = {}
        current: dict[str, Any] | None = None
        for line in iter_lines(self.input_file, limit=10_000):
            text = line.split("!")[0].strip()
            if text.startswith("&"):
                current = namelists.setdefault(text[1:].split()[0].lower(), {})
            elif text == "/":
                current = None
            elif current is not None:
                for key, value in _ASSIGNMENT.findall(text):
                    current[key.lower()] = _fortran_value(value)
        return namelists


def iter_lines(path: Path, limit: int | None = None) -> Iterator[str]:
    """Yield decoded lines of a run file; nothing when it is missing or unreadable.

    Parameters
    ----------
    path
        The file, usually one of a :class:`PwRunDir`'s.
    limit
        Stop after this many lines (None: read to the end).
    """
    try:
        with path.open("rb") as handle:
            for count, raw in enumerate(handle):
                if limit is not None and count >= limit:
                    return
                yield raw.decode("utf-8", errors="replace")
    except OSError:
        return


def _prefix(control: Mapping[str, Any] | None) -> str:
    return str((control or {}).get("prefix", PREFIX))


def _fortran_value(value: str) -> Any:
    if value[0] in "'\"":
        return value[1:-1]
    if value.lower() in (".true.", ".t.", "true"):
        return True
    if value.lower() in (".false.", ".f.", "false"):
        return False
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value.replace("D", "E").replace("d", "e"))
    except ValueError:
        return value
