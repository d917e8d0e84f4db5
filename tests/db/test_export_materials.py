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
from htflow.db import exports
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
    n = exports.export_extxyz(xyz, ["band_gap", "formation_energy_per_atom"], uri=uri)
    frames = read(xyz, index=":")
    assert len(frames) == n == 40
    assert all("band_gap" in f.info and f.info["material_id"].startswith("htf-") for f in frames)
    pq = tmp_path / "m.parquet"
    exports.export_parquet(pq, ["material_id", "band_gap", "is_metal", "structure"], uri=uri)
    frame = pd.read_parquet(pq)
    assert len(frame) == 40
    assert json.loads(frame.structure[0])["lattice"]


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
    exports.export_parquet(target, ["material_id", "nsites"], uri=uri, overwrite=True)
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
            "--field",
            "material_id",
            "--db",
            uri,
            "--filter",
            '{"nsites": 2}',
        ],
    )
    assert ok.exit_code == 0, ok.output
