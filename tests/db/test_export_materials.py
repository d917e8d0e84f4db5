"""CGCNN, extended XYZ and parquet exports, and their atomicity under an injected failure."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from ase.io import read
from typer.testing import CliRunner

from htflow.cli.export import export_app
from htflow.db import exports, query
from htflow.db.access import QueryError
from htflow.exceptions import InputError
from tests.db.test_query_materials import fill

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def uri(tmp_path: Path) -> str:
    uri = f"file://{tmp_path / 'db'}"
    fill(uri, 40)
    return uri


def test_cgcnn(uri: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "cgcnn"
    n = exports.export_cgcnn(target, "band_gap", {"is_metal": False}, uri=uri)
    rows = list(csv.reader((target / "id_prop.csv").open()))
    assert len(rows) == n > 0
    for mid, value in rows:
        assert (target / f"{mid}.cif").exists()
        assert float(value) > 0
    features = json.loads((target / "atom_init.json").read_text())
    assert all(len(v) == 31 and sum(v) == 3 for v in features.values())
    assert not list(target.parent.glob(".htflow-export-*"))


def test_extxyz_and_parquet(uri: str, tmp_path: Path) -> None:
    xyz = tmp_path / "m.xyz"
    n = exports.export_extxyz(
        xyz, ["band_gap", "formation_energy_per_atom"], uri=uri, include_suspect=True
    )
    frames = read(xyz, index=":")
    assert len(frames) == n == 40
    assert all("band_gap" in f.info and f.info["material_id"].startswith("htf-") for f in frames)
    pq = tmp_path / "m.parquet"
    exports.export_parquet(pq, ["material_id", "band_gap", "is_metal", "structure"], uri=uri)
    frame = pd.read_parquet(pq)
    assert len(frame) == 40
    assert json.loads(frame.structure[0])["lattice"]


def _levels(uri: str, key: str) -> dict[str, str | None]:
    frame = query({}, ["material_id", f"quality.{key}"], uri)
    return dict(zip(frame.material_id, frame[f"quality.{key}"], strict=True))


def test_cgcnn_leaves_suspect_materials_out(uri: str, tmp_path: Path) -> None:
    levels = _levels(uri, "band_gap")
    suspect = sorted(m for m, q in levels.items() if q == "suspect")
    assert 0 < len(suspect) < len(levels)
    target = tmp_path / "gap"
    n = exports.export_cgcnn(target, "band_gap", uri=uri)
    assert n.left_out == len(suspect)
    assert n + n.left_out == len(levels) == 40
    rows = list(csv.reader((target / "id_prop.csv").open()))
    assert all(len(row) == 2 for row in rows)  # CGCNN unpacks exactly two values
    assert not {r[0] for r in rows} & set(suspect)
    quality = list(csv.DictReader((target / exports.QUALITY_FILE).open()))
    assert [q["material_id"] for q in quality] == [r[0] for r in rows]
    assert {q["quality"] for q in quality} <= {"checked", "verified"}
    assert all(q["reason"] == "" for q in quality)

    kept = exports.export_cgcnn(tmp_path / "all", "band_gap", uri=uri, include_suspect=True)
    assert (kept, kept.left_out) == (40, 0)
    quality = list(csv.DictReader((tmp_path / "all" / exports.QUALITY_FILE).open()))
    reasons = {q["material_id"]: q["reason"] for q in quality if q["quality"] == "suspect"}
    assert sorted(reasons) == suspect
    assert set(reasons.values()) == {"synthetic band_gap reason"}


def test_extxyz_and_parquet_blank_suspect_values(uri: str, tmp_path: Path) -> None:
    gap = _levels(uri, "band_gap")
    formation = _levels(uri, "formation_energy")
    xyz = tmp_path / "m.xyz"
    n = exports.export_extxyz(xyz, ["band_gap", "formation_energy_per_atom"], uri=uri)
    frames = {f.info["material_id"]: f.info for f in read(xyz, index=":")}
    assert len(frames) == n == 40
    for mid, info in frames.items():
        assert info["band_gap_quality"] == gap[mid]
        assert ("band_gap" in info) is (gap[mid] != "suspect")
        if formation[mid] is not None:
            assert info["formation_energy_per_atom_quality"] == formation[mid]
    left = sum(q == "suspect" for q in gap.values()) + sum(
        q == "suspect" for q in formation.values()
    )
    assert n.left_out == left > 0

    pq = tmp_path / "m.parquet"
    n = exports.export_parquet(pq, ["material_id", "band_gap", "k_vrh", "nsites"], uri=uri)
    frame = pd.read_parquet(pq)
    assert list(frame.columns) == [
        "material_id", "band_gap", "k_vrh", "nsites", "quality.band_gap", "quality.elastic",
    ]  # fmt: skip
    suspect = frame["quality.band_gap"] == "suspect"
    assert frame.band_gap[suspect].isna().all()
    assert frame.band_gap[~suspect].notna().all()
    assert frame.k_vrh[frame["quality.elastic"] == "suspect"].isna().all()
    assert n.left_out == int(suspect.sum()) + int((frame["quality.elastic"] == "suspect").sum())
    full = exports.export_parquet(
        pq, ["material_id", "band_gap"], uri=uri, overwrite=True, include_suspect=True
    )
    assert full.left_out == 0
    assert pd.read_parquet(pq).band_gap.notna().all()


def test_failed_export_leaves_nothing(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymatgen.io import cif

    calls = {"n": 0}
    original = cif.CifWriter.write_file

    def flaky(self: cif.CifWriter, filename: str, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full (injected)")
        original(self, filename, *args, **kwargs)

    monkeypatch.setattr(cif.CifWriter, "write_file", flaky)
    target = tmp_path / "cgcnn"
    with pytest.raises(OSError, match="injected"):
        exports.export_cgcnn(target, "energy_per_atom", uri=uri)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "db"]


def test_existing_target_and_bad_property(uri: str, tmp_path: Path) -> None:
    target = tmp_path / "x.parquet"
    exports.export_parquet(target, ["material_id"], uri=uri)
    with pytest.raises(InputError, match="exists"):
        exports.export_parquet(target, ["material_id"], uri=uri)
    exports.export_parquet(target, ["nsites"], uri=uri, overwrite=True)
    assert list(pd.read_parquet(target).columns) == ["material_id", "nsites"]
    with pytest.raises(QueryError, match=r"no material.* has 'eos_v0'"):
        exports.export_cgcnn(tmp_path / "c", "eos_v0", uri=uri)
    with pytest.raises(QueryError, match="unknown materials field"):
        exports.export_extxyz(tmp_path / "a.xyz", ["gap"], uri=uri)


def test_cli_errors_are_one_line(uri: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        export_app, ["cgcnn", str(tmp_path / "c"), "--property", "nope", "--db", uri]
    )
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "error:" in result.output
    ok = runner.invoke(
        export_app,
        [
            "parquet",
            str(tmp_path / "a.parquet"),
            "--field",  # the old name of --property
            "nsites",
            "--db",
            uri,
            "--filter",
            '{"nsites": 2}',
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert list(pd.read_parquet(tmp_path / "a.parquet").columns) == ["material_id", "nsites"]


def test_every_export_takes_property_and_carries_id_and_quality(uri: str, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", uri, "--include-suspect"]
    for kind, target in (("cgcnn", "c"), ("extxyz", "x.xyz"), ("parquet", "p.parquet")):
        result = runner.invoke(
            export_app, [kind, str(tmp_path / target), "--property", "band_gap", *db]
        )
        assert result.exit_code == 0, (kind, result.output)
    quality = list(csv.DictReader((tmp_path / "c" / exports.QUALITY_FILE).open()))
    assert {q["material_id"] for q in quality} == {
        r[0] for r in csv.reader((tmp_path / "c" / "id_prop.csv").open())
    }
    assert all(q["quality"] for q in quality)
    frames = read(tmp_path / "x.xyz", index=":")
    assert all(
        f.info["material_id"].startswith("htf-") and f.info["band_gap_quality"] for f in frames
    )
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert list(table.columns) == ["material_id", "band_gap", "quality.band_gap"]
    assert table["quality.band_gap"].notna().all()


def test_cli_says_how_many_suspect_values_were_left_out(uri: str, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["cgcnn", str(tmp_path / "c"), "--property", "band_gap", "--db", uri]
    result = runner.invoke(export_app, args)
    assert result.exit_code == 0, result.output
    suspect = sum(q == "suspect" for q in _levels(uri, "band_gap").values())
    assert f"wrote {40 - suspect} materials" in result.output
    assert f"left out {suspect} suspect materials (--include-suspect keeps them)" in result.output
    result = runner.invoke(
        export_app, [*args[:1], str(tmp_path / "d"), *args[2:], "--include-suspect"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote 40 materials to {tmp_path / 'd'}"
