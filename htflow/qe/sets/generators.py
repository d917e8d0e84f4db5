"""Turn a structure, a protocol and a pseudo family into a validated :class:`PwInput`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pymatgen.core import Element

from htflow.exceptions import InputError
from htflow.qe.pseudos import get_pseudo_family
from htflow.qe.pwinput import KPoints, PwInput, Species
from htflow.qe.rundir import OUTDIR, PREFIX
from htflow.qe.sets.kpoints import band_path, mesh_from_spacing
from htflow.qe.sets.protocol import Protocol, load_protocol
from htflow.qe.sets.sampling import raise_to_needs
from htflow.qe.sets.validation import check_elements, check_structure, normalize_overrides

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from htflow.qe.pseudos import PseudoFamily

MAGMOMS_FILE = Path(__file__).parent / "initial_magmoms.yaml"
_CUTOFF_KEYS = ("ecutwfc", "ecutrho")


@dataclass
class PwInputGenerator:
    """Build pw.x inputs from a protocol (fast, balanced, stringent) and a pseudo family.

    Parameters
    ----------
    calculation
        pw.x calculation type.
    protocol
        Protocol name; see :func:`htflow.qe.sets.available_protocols`.
    pseudo_family
        Family name; None means ``get_settings().pseudo_family`` at generation time.
    spin
        ``"collinear"`` sets nspin=2 and MP-style starting moments per species.
    overrides
        ``{namelist: {key: value}}`` applied last (a value of None removes the key), plus an
        optional ``"protocol"`` section overriding protocol fields, e.g. ``{"degauss": 0.01}``.
    kpoints_spacing
        k-point spacing (1/Å, including 2π) overriding the protocol's.
    kpoints_mesh
        A fixed Monkhorst-Pack mesh overriding any spacing (scf, relax, nscf). EOS and
        elastic flows fix the mesh of the reference cell so that every strained cell is
        sampled alike: a mesh that jumps between volumes would break E(V) and σ(ε).
    for_property
        The property this run serves (``energy``, ``elastic``, ``eos``, ``dos``; see
        :mod:`htflow.qe.sets.sampling`): the protocol's k mesh, smearing and thresholds are
        raised to what it needs, and ``PwInput.sampling`` records how.
    is_metal
        Known from an earlier run of the flow; None (unknown) applies a metal's needs.
    strict
        Refuse (InputError) instead of raising the protocol for ``for_property``.
    """

    calculation: Literal["scf", "relax", "vc-relax", "nscf", "bands"] = "scf"
    protocol: str = "balanced"
    pseudo_family: str | None = None
    spin: Literal["none", "collinear"] = "none"
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    kpoints_spacing: float | None = None
    kpoints_mesh: tuple[int, int, int] | None = None
    for_property: str | None = None
    is_metal: bool | None = None
    strict: bool = False

    def get_input(self, structure: Structure, kpath: KPoints | None = None) -> PwInput:
        """Return the validated pw.x input for ``structure``.

        Parameters
        ----------
        structure
            An ordered structure (Å).
        kpath
            Explicit k-points for ``calculation="bands"``; default: the high-symmetry path.

        Raises
        ------
        InputError
            Bad structure, protocol, override, cutoff, or an element the family lacks.
        """
        overrides = dict(self.overrides)
        protocol = load_protocol(self.protocol, overrides.pop("protocol", None))
        namelist_overrides = normalize_overrides(overrides)
        if self.kpoints_spacing is not None and self.kpoints_spacing <= 0:
            raise InputError(f"kpoints_spacing must be positive (got {self.kpoints_spacing} 1/Å)")
        check_structure(structure)
        family = get_pseudo_family(self.pseudo_family)
        check_elements(structure, family)

        species_order = list(dict.fromkeys(site.specie.symbol for site in structure))
        control = self._control(protocol, family, len(structure))
        system = self._system(protocol, family, structure, species_order)
        electrons: dict[str, Any] = {
            "conv_thr": _round(protocol.conv_thr_per_atom * len(structure)),
            "mixing_beta": protocol.mixing_beta,
            "electron_maxstep": protocol.electron_maxstep,
        }
        ions: dict[str, Any] = {}
        cell: dict[str, Any] = {}
        if self.calculation in ("relax", "vc-relax"):
            ions["ion_dynamics"] = protocol.ion_dynamics
        if self.calculation == "vc-relax":
            cell["cell_dynamics"] = protocol.cell_dynamics
            cell["press_conv_thr"] = protocol.press_conv_thr

        namelists = {
            "control": control,
            "system": system,
            "electrons": electrons,
            "ions": ions,
            "cell": cell,
        }
        kpoints = self._kpoints(protocol, structure, kpath)
        sampling = None
        if self.for_property is not None and kpoints.mode == "automatic":
            raised = raise_to_needs(
                self.for_property,
                structure,
                self.protocol,
                self._spacing_mesh(protocol, structure).mesh,
                dict(namelists),
                fixed_mesh=self.kpoints_mesh,
                is_metal=self.is_metal,
                strict=self.strict,
                cutoff_scale=protocol.cutoff_scale,
            )
            kpoints = KPoints(mode="automatic", mesh=raised.mesh, shift=kpoints.shift)
            for name, tightened in raised.namelists.items():
                namelists[name].update(tightened)
            sampling = raised.record
        for name, changes in namelist_overrides.items():
            for key, value in changes.items():
                if value is None:
                    namelists[name].pop(key, None)
                else:
                    namelists[name][key] = value
        _check_cutoffs(system)

        species = [
            Species(
                symbol=symbol,
                mass=float(Element(symbol).atomic_mass),
                filename=family.pseudos[symbol].filename,
                md5=family.pseudos[symbol].md5,
            )
            for symbol in species_order
        ]
        return PwInput.from_structure(
            structure,
            species=species,
            kpoints=kpoints,
            protocol=self.protocol,
            pseudo_family=family.name,
            sampling=sampling,
            **namelists,
        )

    def _control(self, protocol: Protocol, family: PseudoFamily, nat: int) -> dict[str, Any]:
        control: dict[str, Any] = {
            "calculation": self.calculation,
            "outdir": OUTDIR,
            "prefix": PREFIX,
            "pseudo_dir": str(family.directory),
        }
        if self.calculation in ("scf", "relax", "vc-relax"):
            control["tprnfor"] = True
            control["tstress"] = True
        if self.calculation in ("relax", "vc-relax"):
            control["etot_conv_thr"] = _round(protocol.etot_conv_thr_per_atom * nat)
            control["forc_conv_thr"] = protocol.forc_conv_thr
        return control

    def _system(
        self,
        protocol: Protocol,
        family: PseudoFamily,
        structure: Structure,
        species_order: list[str],
    ) -> dict[str, Any]:
        entries = [family.pseudos[symbol] for symbol in species_order]
        # the hardest element sets the basis; wfc and rho maxima are taken separately because
        # ultrasoft/PAW entries need a larger dual than norm-conserving ones
        system: dict[str, Any] = {
            "ecutwfc": _round(max(e.cutoff_wfc for e in entries) * protocol.cutoff_scale),
            "ecutrho": _round(max(e.cutoff_rho for e in entries) * protocol.cutoff_scale),
        }
        occupations: str = protocol.occupations
        if self.calculation == "nscf":
            occupations = protocol.nscf.occupations
        system["occupations"] = occupations
        if occupations == "smearing":
            system["smearing"] = protocol.smearing
            system["degauss"] = protocol.degauss
        if self.calculation in ("nscf", "bands"):
            factor = (
                protocol.nscf.nbnd_factor
                if self.calculation == "nscf"
                else protocol.bands.nbnd_factor
            )
            nelec = sum(family.z_valence(site.specie.symbol) for site in structure)
            system["nbnd"] = max(math.ceil(factor * nelec / 2), math.ceil(nelec / 2) + 4)
        if self.spin == "collinear":
            system["nspin"] = 2
            for index, symbol in enumerate(species_order, start=1):
                moment = _species_moment(structure, symbol)
                fraction = moment / family.z_valence(symbol)
                system[f"starting_magnetization({index})"] = _round(max(-1.0, min(1.0, fraction)))
        return system

    def _kpoints(self, protocol: Protocol, structure: Structure, kpath: KPoints | None) -> KPoints:
        if self.calculation == "bands":
            return (
                kpath if kpath is not None else band_path(structure, protocol.bands.kpoints_spacing)
            )
        if self.kpoints_mesh is not None:
            if any(n < 1 for n in self.kpoints_mesh):
                raise InputError(f"kpoints_mesh must be positive (got {self.kpoints_mesh})")
            return KPoints(mode="automatic", mesh=self.kpoints_mesh)
        return self._spacing_mesh(protocol, structure)

    def _spacing_mesh(self, protocol: Protocol, structure: Structure) -> KPoints:
        """The mesh the protocol's (or the given) spacing gives ``structure``."""
        if self.calculation == "nscf":
            spacing = protocol.nscf.kpoints_spacing
            if self.kpoints_spacing is not None:
                # keep the protocol's density ratio between the DOS grid and the scf grid
                spacing = self.kpoints_spacing * spacing / protocol.kpoints_spacing
        else:
            spacing = self.kpoints_spacing or protocol.kpoints_spacing
        return mesh_from_spacing(structure, spacing)


def _check_cutoffs(system: dict[str, Any]) -> None:
    for key in _CUTOFF_KEYS:
        value = system.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{key} must be a positive number of Ry (got {value!r})")
    if system["ecutrho"] < 4 * system["ecutwfc"]:
        raise InputError(
            f"ecutrho ({system['ecutrho']} Ry) must be at least 4 × ecutwfc "
            f"({system['ecutwfc']} Ry): raise ecutrho"
        )


@cache
def _magmom_table() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MAGMOMS_FILE.read_text())
    return data


def _species_moment(structure: Structure, symbol: str) -> float:
    """Initial moment (Bohr magneton) of one species: the sites' ``magmom`` or MP's default."""
    given = {
        float(site.properties["magmom"])
        for site in structure
        if site.specie.symbol == symbol and site.properties.get("magmom") is not None
    }
    if len(given) > 1:
        raise InputError(
            f"sites of {symbol} carry different magmom values {sorted(given)}: pw.x takes one "
            "starting moment per species; drop the magmom site property or use one value"
        )
    if given:
        return given.pop()
    table = _magmom_table()
    return float(table["moments"].get(symbol, table["default"]))


def _round(value: float) -> float:
    # products like 2e-10 * 3 carry float noise (6.000000000000001e-10) into pw.in otherwise
    return float(f"{value:.6g}")
