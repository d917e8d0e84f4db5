"""The ML screen: rules on fake documents, then the physics with the real CHGNet model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from jobflow import Flow, run_locally
from monty.json import jsanitize
from pymatgen.analysis.structure_matcher import StructureMatcher

from htflow.exceptions import InputError
from htflow.ml.references import elemental_reference_structures
from htflow.ml.relax import MLRelaxMaker
from htflow.ml.screen import MLScreenDoc, ml_screen_job, screen
from tests.ml.ml_helpers import diamond, fake_doc, fcc, rocksalt

if TYPE_CHECKING:
    from pathlib import Path

    from htflow.ml.relax import MLRelaxDoc

NA, CL = fake_doc(fcc("Na", 5.3), -1.3), fake_doc(fcc("Cl", 5.0), -1.8)
REFERENCES = [NA, CL]


def test_keeps_within_the_margin_and_says_why() -> None:
    candidates = {
        "good": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0),
        "close": fake_doc(rocksalt("Na", "Cl", 5.7), -2.95),
        "bad": fake_doc(rocksalt("Na", "Cl", 5.8), -2.7),
    }
    doc = screen(candidates, REFERENCES, [], margin=0.1, plan={"dft": [1]}, correction="none")
    by_label = {d.label: d for d in doc.decisions}
    assert [d.label for d in doc.decisions] == ["good", "close", "bad"]
    assert by_label["good"].kept and by_label["good"].e_above_hull == pytest.approx(0.0)
    assert by_label["close"].kept
    assert by_label["close"].reason == (
        "kept: 0.050 eV/atom above the ML hull (margin 0.1 eV/atom, chgnet)"
    )
    assert not by_label["bad"].kept
    assert by_label["bad"].reason == (
        "screened out: 0.300 eV/atom above the ML hull (decomposes to NaCl), margin 0.1 eV/atom "
        "(chgnet)"
    )
    assert by_label["good"].formation_energy_per_atom == pytest.approx(-3.0 + 1.55)
    assert (doc.n_kept, doc.n_screened_out, doc.plan) == (2, 1, {"dft": [1]})
    assert [d.label for d in doc.kept()] == ["good", "close"]
    assert doc.model == "chgnet" and doc.energy_correction == "none"


def test_ml_failures_never_screen_out() -> None:
    start = rocksalt("Na", "Cl", 5.6)
    candidates = {
        "blew up": fake_doc(
            fcc("Na", 9.0),
            -9.0,
            input_structure=start,
            converged=False,
            failure="the volume went to 3.10× the start at step 40",
        ),
        "slow": fake_doc(rocksalt("Na", "Cl", 5.7), -1.0, converged=False, n_steps=500),
        "no energy": fake_doc(
            start,
            None,
            converged=False,
            failure="the model gave a non-finite energy or force at step 0",
        ),
    }
    doc = screen(candidates, REFERENCES, [], margin=0.1, correction="none")
    blew_up, slow, no_energy = doc.decisions
    assert all(d.kept for d in doc.decisions)
    assert blew_up.reason.startswith("kept: the ML relaxation failed (the volume went to")
    assert blew_up.reason.endswith("DFT decides")
    # DFT starts from the input (its symmetry made exact), not from the blown-up cell
    assert StructureMatcher(scale=False).fit(blew_up.structure, start)
    assert blew_up.e_above_hull is None
    assert slow.reason.startswith("kept: the ML relaxation did not converge in 500 steps (")
    assert slow.e_above_hull == pytest.approx(0.55)  # above Na + Cl at -1.55 eV/atom
    assert no_energy.energy_per_atom is None


def test_a_failed_reference_leaves_its_candidates_to_dft() -> None:
    broken_cl = fake_doc(fcc("Cl", 5.0), None, converged=False, failure="the model failed")
    candidates = {
        "NaCl": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0),
        "Na": fake_doc(fcc("Na", 5.3), -1.0),
    }
    doc = screen(candidates, [NA, broken_cl], [], correction="none")
    nacl, na = doc.decisions
    assert nacl.kept and nacl.reason.startswith("kept: no working ML reference for Cl")
    assert not na.kept  # 0.3 eV/atom above the Na reference


def test_bad_input_is_one_line() -> None:
    candidates = {"NaCl": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0)}
    with pytest.raises(InputError, match="margin must be a number in eV/atom, got 'wide'"):
        screen(candidates, REFERENCES, [], margin="wide")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="finite number ≥ 0"):
        screen(candidates, REFERENCES, [], margin=-0.1)
    with pytest.raises(InputError, match="no elemental reference for Cl in the ML screen"):
        screen(candidates, [NA], [])
    sevenn_na = fake_doc(
        fcc("Na", 5.3), -1.3, model="sevenn", model_version="sevenn 0.13.0, 7net-0"
    )
    with pytest.raises(
        InputError, match=r"mixes chgnet .* and sevenn .*: relax every phase with one"
    ):
        screen(candidates, [sevenn_na, CL], [])


def test_the_hull_takes_each_models_energy_scale() -> None:
    candidates = {"NaCl": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0)}
    assert screen(candidates, REFERENCES, []).energy_correction == "none"  # CHGNet's
    sevenn = {"model": "sevenn", "model_version": "sevenn 0.13.0, 7net-0"}
    raw = {"NaCl": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0, **sevenn)}
    references = [
        fake_doc(fcc("Na", 5.3), -1.3, **sevenn),
        fake_doc(fcc("Cl", 5.0), -1.8, **sevenn),
    ]
    doc = screen(raw, references, [])
    assert doc.energy_correction == "mp2020"
    # MP2020's chloride correction (-0.614 eV per Cl) lowers the formation energy.
    assert doc.decisions[0].formation_energy_per_atom == pytest.approx(-1.45 - 0.307, abs=0.01)


def test_screen_doc_round_trips() -> None:
    doc = screen({"NaCl": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0)}, REFERENCES, [])
    stored = jsanitize(doc, strict=True, allow_bson=True, enum_values=True)
    assert MLScreenDoc.model_validate(stored) == doc
    # Resolved job outputs may arrive as the stored dicts.
    as_stored = {"NaCl": jsanitize(fake_doc(rocksalt("Na", "Cl", 5.6), -3.0), strict=True)}
    assert screen(as_stored, [jsanitize(NA, strict=True), CL], []) == doc  # type: ignore[list-item]
    assert screen({}, REFERENCES, []).decisions == []


@pytest.mark.ml
def test_chgnet_screens_out_fcc_silicon_and_keeps_the_ground_states(
    chgnet_relaxed: dict[str, MLRelaxDoc],
) -> None:
    relaxed = chgnet_relaxed
    assert all(d.converged for d in relaxed.values())
    candidates = {name: relaxed[name] for name in ("NaCl-rocksalt", "Si-diamond", "Si-fcc")}
    doc = screen(candidates, [relaxed["Na"], relaxed["Cl"], relaxed["Si"]], [], margin=0.1)
    by_label = {d.label: d for d in doc.decisions}
    assert by_label["NaCl-rocksalt"].kept
    assert by_label["NaCl-rocksalt"].formation_energy_per_atom < -1.0  # strongly bound
    assert by_label["Si-diamond"].kept
    assert by_label["Si-diamond"].e_above_hull == pytest.approx(0.0, abs=1e-3)
    fcc_si = by_label["Si-fcc"]
    assert not fcc_si.kept
    assert fcc_si.e_above_hull > 0.1
    assert (
        fcc_si.reason.startswith("screened out:")
        and "(decomposes to Si), margin 0.1" in fcc_si.reason
    )
    assert doc.model_version == "chgnet 0.4.2, CHGNet 0.3.0 weights"
    # A margin wider than its distance keeps it.
    wide = screen(candidates, [relaxed["Si"], relaxed["Na"], relaxed["Cl"]], [], margin=5.0)
    assert wide.n_kept == 3


@pytest.mark.ml
def test_relax_then_screen_as_a_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    maker = MLRelaxMaker()
    reference = maker.make(elemental_reference_structures(["Si"])["Si"])
    diamond_si = maker.make(diamond("Si", 5.43))
    fcc_si = maker.make(fcc("Si", 3.85))
    screen_job = ml_screen_job(
        {"diamond": diamond_si.output, "fcc": fcc_si.output},
        [reference.output],
        [],
        0.1,
        plan={"next": "dft"},
    )
    flow = Flow([reference, diamond_si, fcc_si, screen_job])
    responses = run_locally(flow, ensure_success=True)
    output = responses[screen_job.uuid][1].output
    doc = output if isinstance(output, MLScreenDoc) else MLScreenDoc.model_validate(output)
    assert [(d.label, d.kept) for d in doc.decisions] == [("diamond", True), ("fcc", False)]
    assert doc.plan == {"next": "dft"}


def test_without_a_margin_every_candidate_is_kept_with_its_numbers() -> None:
    # a funnel without the ml_screen stage: pre-relaxation only, the hull is still reported
    candidates = {
        "good": fake_doc(rocksalt("Na", "Cl", 5.6), -3.0),
        "bad": fake_doc(rocksalt("Na", "Cl", 5.8), -2.7),
    }
    doc = screen(candidates, REFERENCES, [], margin=None, correction="none")
    assert doc.margin is None and (doc.n_kept, doc.n_screened_out) == (2, 0)
    bad = next(d for d in doc.decisions if d.label == "bad")
    assert bad.kept and bad.e_above_hull == pytest.approx(0.3)
    assert bad.reason == "kept: no ml_screen stage (0.300 eV/atom above the ML hull, chgnet)"


def test_the_dft_start_has_exact_symmetry() -> None:
    # an ML relaxation leaves the lattice symmetric to ~1e-6 Å; projwfc then refuses the run
    import numpy as np
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from htflow.ml.screen import dft_start

    exact = diamond("C", 3.567)
    noisy = Structure(
        Lattice(exact.lattice.matrix + np.random.default_rng(1).normal(0, 1e-6, (3, 3))),
        exact.species,
        exact.frac_coords + np.random.default_rng(2).normal(0, 1e-7, (2, 3)),
    )
    assert SpacegroupAnalyzer(noisy, symprec=1e-8).get_space_group_symbol() != "Fd-3m"
    start = dft_start(noisy)
    assert SpacegroupAnalyzer(start, symprec=1e-8).get_space_group_symbol() == "Fd-3m"
    assert len(start) == 2 and abs(start.volume - exact.volume) < 1e-3
    doc = screen({"c": fake_doc(noisy, -9.0)}, [fake_doc(exact, -9.0)], [], correction="none")
    assert SpacegroupAnalyzer(
        doc.decisions[0].structure, symprec=1e-8
    ).get_space_group_symbol() == ("Fd-3m")
