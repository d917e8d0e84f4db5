"""The live server: optimade-validator, OPTIMADE's error responses, sign-in, freshness, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.optimade.conftest import (
    CRYSTAL_PROTOCOL,
    USER,
    Served,
    all_ids,
    crystal_material,
    crystals,
    demo_documents,
    fetch,
    write_materials,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

VALIDATOR = Path(sys.executable).with_name("optimade-validator")


def test_optimade_validator_finds_no_failure(signed_in_api: Served, tmp_path: Path) -> None:
    """The consortium's validator, run as its own command against the signed-in server."""
    env = dict(os.environ, OPTIMADE_LOG_DIR=str(tmp_path))  # not /var/log/optimade
    result = subprocess.run(
        [
            str(VALIDATOR),
            signed_in_api.url,
            "--json",
            "--headers",
            json.dumps(signed_in_api.headers),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    report = json.loads(result.stdout)
    assert report["failure_count"] == 0, report["failure_messages"]
    assert report["internal_failure_count"] == 0, report["internal_failure_messages"]
    assert report["optional_failure_count"] == 0, report["optional_failure_messages"]
    assert report["success_count"] > 50
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"filter": "nelements >"}, 400, "Unable to parse filter"),
        ({"filter": 'elements HAS "Si" AND'}, 400, "Unable to parse filter"),
        ({"filter": "_htflow_bandgap > 1"}, 400, "'_htflow_bandgap' is not a known"),
        ({"filter": "crazyfield = 2"}, 400, "'crazyfield' is not a known"),
        ({"page_limit": 501}, 403, "Max allowed page_limit is 500"),
        ({"filter": 'species_at_sites HAS "Si"'}, 501, "filters on species_at_sites"),
        ({"sort": "lattice_vectors"}, 400, "cannot sort on lattice_vectors"),
    ],
)
def test_bad_input_gets_a_json_api_error(
    public_api: Served, params: dict[str, object], status: int, detail: str
) -> None:
    got, body = public_api.get("structures", **params)
    assert got == status
    (error,) = body["errors"]
    assert error["status"] == str(status)
    assert detail in error["detail"]
    assert "Traceback" not in json.dumps(body)
    assert body["meta"]["api_version"].startswith("1.")


def test_an_unknown_entry_and_version(public_api: Served) -> None:
    status, body = public_api.get("structures/htf-0000000000")
    assert status == 200 and body["data"] is None and body["meta"]["data_returned"] == 0
    status, body = fetch(f"{public_api.url}/v9/info")
    assert status == 553 and body["errors"][0]["status"] == "553"


def test_read_only(public_api: Served) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{public_api.url}/v1/structures", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 405


def test_sign_in(signed_in_api: Served) -> None:
    status, body = fetch(f"{signed_in_api.url}/v1/structures")
    assert status == 401
    assert body["errors"][0]["status"] == "401" and "no credentials" in body["errors"][0]["detail"]
    wrong = Served(signed_in_api.url, (USER[0], "wrong-pass-1"))
    assert wrong.get("info")[0] == 401
    status, body = signed_in_api.get("structures", page_limit=2)
    assert status == 200 and len(body["data"]) == 2


def test_a_structure_entry(public_api: Served, demo_db: str) -> None:
    from htflow.db import query

    frame = query({"formula_reduced": "MgO"}, ["material_id", "k_vrh", "quality.elastic"], demo_db)
    (mid,) = frame.material_id
    status, body = public_api.get(f"structures/{mid}")
    assert status == 200
    attributes = body["data"]["attributes"]
    assert attributes["chemical_formula_reduced"] == "MgO"
    assert attributes["chemical_formula_anonymous"] == "AB"
    assert attributes["species_at_sites"] == ["Mg", "O"]
    assert attributes["_htflow_k_vrh"] == frame.k_vrh[0]
    assert attributes["_htflow_quality_elastic"] == frame["quality.elastic"][0]
    assert attributes["_htflow_protocol"] == CRYSTAL_PROTOCOL
    assert attributes["last_modified"].startswith("2026-03-06T10:00:00")
    references = body["data"]["relationships"]["references"]["data"]
    assert references == [{"id": "htflow", "type": "references"}]
    status, info = public_api.get("info/structures")
    described = info["data"]["properties"]["_htflow_k_vrh"]
    assert described["unit"] == "GPa" and "bulk modulus" in described["description"]


@pytest.fixture
def live_db(tmp_path: Path) -> str:
    uri = f"file://{tmp_path / 'db'}"
    write_materials(uri, demo_documents()[:10])
    return uri


@pytest.fixture
def live_api(live_db: str) -> Iterator[Served]:
    from htflow.optimade.app import create_optimade_app
    from htflow.optimade.server import serving

    with serving(create_optimade_app(live_db)) as url:
        yield Served(url)


def test_what_the_builder_writes_is_served_at_once(live_api: Served, live_db: str) -> None:
    """No copy to refresh: each request reads the store, as the builder commits to it."""
    assert live_api.get("structures")[1]["meta"]["data_available"] == 10
    assert all_ids(live_api, '_htflow_protocol = "balanced"') == []
    cells = list(crystals().values())
    new = [crystal_material(i, *cells[i]) for i in range(3)]
    write_materials(live_db, new)
    assert live_api.get("structures")[1]["meta"]["data_available"] == 13
    assert sorted(all_ids(live_api, '_htflow_protocol = "balanced"')) == sorted(
        d["material_id"] for d in new
    )
    changed = dict(new[0], band_gap=9.5)  # the builder rewrites a material
    write_materials(live_db, [changed])
    assert all_ids(live_api, "_htflow_band_gap > 9") == [changed["material_id"]]
    body = live_api.get(f"structures/{changed['material_id']}")[1]
    assert body["data"]["attributes"]["_htflow_band_gap"] == 9.5


def _htflow(*args: str, home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, HTFLOW_HOME=str(home), PYTHONPATH=str(Path(__file__).parents[2]))
    code = "from htflow.cli.main import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_serves_and_stops(demo_db: str, users_file: Path, tmp_path: Path) -> None:
    process = _htflow(
        "optimade", "serve", "--db", demo_db, "--port", "0", "--users", str(users_file),
        home=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the announcement, printed once the socket is bound
        assert "htflow OPTIMADE API on http://127.0.0.1:" in line, process.stderr
        base = line.split(" on ", 1)[1].split()[0]
        assert fetch(f"{base}/info")[0] == 401
        served = Served(base.removesuffix("/v1"), USER)
        status, body = served.get("structures", page_limit=1)
        assert status == 200 and body["meta"]["data_available"] == len(demo_documents())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "/nonexistent/db", "--public"], "no embedded store at /nonexistent/db"),
        (["--public", "--host", "0.0.0.0"], "refusing to serve the OPTIMADE API on 0.0.0.0"),
        ([], "no dashboard users"),
        (["--public", "--host", "not-an-address"], "is not an IP address"),
        (["--public", "--cert", "c.pem"], "TLS needs both --cert and --key"),
        (["--public", "--users", "u.yaml"], "--users and --public exclude each other"),
    ],
)
def test_bad_command_lines_are_one_line_errors(
    args: list[str], message: str, tmp_path: Path
) -> None:
    process = _htflow("optimade", "serve", "--port", "0", *args, home=tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, (out, err)
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
