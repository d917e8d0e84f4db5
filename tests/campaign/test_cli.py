"""``htflow submit`` and ``htflow init`` through typer: bad input exits 2 with one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import typer
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar
from typer.testing import CliRunner

from htflow.cli.init import init
from htflow.cli.submit import submit_app
from tests.campaign.conftest import silicon

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from fireworks import LaunchPad

GOOD = {"prototypes": [{"prototype": "fcc", "sites": {"A": ["Al", "Cu"]}}]}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(submit_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_bad(args: list[str], *fragments: str) -> None:
    code, _, err = run(*args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("htflow: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_dry_run_prints_candidates_and_counts(
    write_campaign: Callable[..., Path], db_uri: str, launchpad: LaunchPad
) -> None:
    path = write_campaign(
        sources={
            "prototypes": [
                {"prototype": "fcc", "sites": {"A": ["Al", "Cu", "Fe"]}},
                {"prototype": "diamond", "sites": {"A": ["Si"]}, "lattice_constant": 5.47},
            ],
            "files": ["si.cif"],
        },
        filters={"missing_pseudo": "skip", "max_sites": 4},
        workflow=["relax_static_dos", {"name": "eos", "crystal_systems": ["hexagonal"]}],
    )
    CifWriter(silicon(5.47)).write_file(path.parent / "si.cif")
    code, out, err = run(str(path), "--dry-run", "--db", db_uri)
    assert code == 0, err
    assert "dry run: nothing submitted" in out
    for row in ("generated", "filtered: missing_pseudo", "duplicates within campaign"):
        assert row in out
    assert "duplicate of sources.files[0] si.cif" in out
    counts = dict(
        line.strip("│ ").rsplit("│", 1) for line in out.splitlines() if line.count("│") == 3
    )
    counts = {k.strip(): int(v) for k, v in counts.items()}
    assert counts["generated"] == 5
    assert counts["filtered: missing_pseudo"] == 1
    assert counts["duplicates within campaign"] == 1
    assert counts["flows to submit"] == 3
    assert launchpad.fireworks.count_documents({}) == 0


def test_submit_then_everything_is_a_duplicate(
    write_campaign: Callable[..., Path], db_uri: str, launchpad: LaunchPad
) -> None:
    path = write_campaign(sources=GOOD)
    code, out, err = run(str(path), "--db", db_uri)
    assert code == 0, err
    assert "submitted 2 flows (6 Fireworks) of campaign test" in out
    code, out, _ = run(str(path), "--db", db_uri)
    assert code == 0 and "nothing new to submit" in out
    assert launchpad.fireworks.count_documents({}) == 6


def test_malformed_yaml_names_the_line(write_campaign: Callable[..., Path]) -> None:
    path = write_campaign("name: x\nworkflow: [eos\nsources: {}\n")
    assert_bad([str(path)], str(path), "line 3", "not valid YAML")


def test_python_object_tag_is_refused(write_campaign: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_campaign(
        f"name: !!python/object/apply:os.system ['touch {marker}']\nworkflow: [eos]\n"
    )
    assert_bad([str(path)], "Python object tags", "line 1")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("keys", "fragments"),
    [
        ({"sources": GOOD, "filterz": {}}, ["unknown key 'filterz'"]),
        ({"sources": GOOD, "dedupe": {"within_campaign": "maybe"}}, ["dedupe.within_campaign"]),
        ({"sources": GOOD, "cluster": "no-such-cluster"}, ["key 'cluster'", "no-such-cluster"]),
        (
            {"sources": {"prototypes": [{"prototype": "fcc", "sites": {"A": ["Fe"]}}]}},
            ["sources.prototypes[0] fcc A=Fe", "Fe have no pseudopotential", "missing_pseudo"],
        ),
        (
            {
                "sources": {"prototypes": [{"prototype": "fcc", "sites": {"A": ["Fe"]}}]},
                "filters": {"missing_pseudo": "skip"},
            },
            ["no candidates", "1 by missing_pseudo"],
        ),
        ({"sources": {}}, ["no candidates", "the sources produced no structure"]),
        ({"sources": {"files": ["*.cif"]}}, ["sources.files[0] '*.cif' matches no file"]),
    ],
)
def test_bad_campaigns_exit_2_in_one_line(
    write_campaign: Callable[..., Path],
    db_uri: str,
    launchpad: LaunchPad,
    keys: dict[str, object],
    fragments: list[str],
) -> None:
    path = write_campaign(**keys)
    assert_bad([str(path), "--db", db_uri], *fragments)
    assert launchpad.fireworks.count_documents({}) == 0


def test_bad_cif_and_poscar_submit_nothing(
    write_campaign: Callable[..., Path], db_uri: str, launchpad: LaunchPad
) -> None:
    path = write_campaign(sources={**GOOD, "files": ["s/*"]})
    directory = path.parent / "s"
    directory.mkdir()
    overlapping = silicon()
    overlapping.append("Si", [0.02, 0.0, 0.0])
    CifWriter(overlapping).write_file(directory / "overlap.cif")
    assert_bad([str(path), "--db", db_uri], "s/overlap.cif", "apart", "fix the structure")

    (directory / "overlap.cif").unlink()
    lines = Poscar(silicon()).get_str().splitlines()
    lines[6] = "5"
    (directory / "POSCAR").write_text("\n".join(lines) + "\n")
    assert_bad([str(path), "--db", db_uri], "s/POSCAR", "declares 5 atoms but lists 2")
    assert launchpad.fireworks.count_documents({}) == 0


def test_missing_campaign_file(tmp_path: Path) -> None:
    assert_bad([str(tmp_path / "nope.yaml")], "nope.yaml not found")


def test_init_writes_a_commented_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    app.command()(init)
    target = tmp_path / "cfg" / "htflow.yaml"
    args = ["--path", str(target), "--db-uri", "mongodb://db.example:27017/htflow"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert "db_uri: 'mongodb://db.example:27017/htflow'" in text
    assert "# pw_cmd: pw.x" in text
    from htflow.settings import get_settings

    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(target))
    assert get_settings().db_uri == "mongodb://db.example:27017/htflow"
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "pass --force" in again.stderr
