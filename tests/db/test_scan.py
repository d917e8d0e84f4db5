"""db.scan: a few fields of every matching document, read straight from the embedded files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from htflow.db.collections import open_database
from htflow.db.scan import plain, scan

if TYPE_CHECKING:
    from pathlib import Path


def test_scan_matches_equality_and_in_and_returns_dotted_fields(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/db"
    with open_database(uri) as (db, _):
        db["things"].insert_many(
            [
                {"n": 1, "spec": {"camp": "a", "deep": {"x": [1, {"y": 2}]}}, "state": "OK"},
                {"n": 2, "spec": {"camp": "b"}, "state": "BAD"},
                {"n": 3, "spec": {"camp": "a"}},
            ]
        )
    rows = scan(uri, "things", ["n", "state", "spec.deep"], {"spec.camp": "a"})
    assert [r["n"] for r in rows] == [1, 3]
    assert rows[0]["state"] == "OK" and "state" not in rows[1]  # missing fields are left out
    assert plain(rows[0]["spec.deep"]) == {"x": [1, {"y": 2}]}
    assert [r["n"] for r in scan(uri, "things", ["n"], {"n": {"$in": {2, 3}}})] == [2, 3]
    assert scan(uri, "things", ["n"], {"spec.camp": "zzz"}) == []
    assert scan(uri, "absent", ["n"]) == []


def test_scan_sees_each_commit_of_another_connection(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/db"
    with open_database(uri) as (db, _):
        db["things"].insert_one({"n": 1})
        assert len(scan(uri, "things", ["n"])) == 1
        db["things"].insert_one({"n": 2})  # the writer's connection is still open
        db["things"].update_one({"n": 1}, {"$set": {"n": 10}})
        assert sorted(r["n"] for r in scan(uri, "things", ["n"])) == [2, 10]
