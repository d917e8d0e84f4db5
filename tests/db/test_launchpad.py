"""The FireWorks LaunchPad on both backends (MongoDB only when HTFLOW_TEST_MONGODB_URI is set)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fireworks import Firework, FWAction, FWorker, LaunchPad, ScriptTask, Workflow

from htflow.db import DatabaseUnreachableError, get_launchpad, ready_fw_ids
from htflow.exceptions import HtflowError
from htflow.settings import settings_env


def _two_step_wf() -> Workflow:
    parent = Firework(ScriptTask.from_str("true"), name="parent")
    child = Firework(ScriptTask.from_str("true"), name="child", parents=[parent])
    return Workflow([parent, child], name="two-step")


def test_basic_cycle(db_uri: str, tmp_path: Path) -> None:
    lp = get_launchpad(db_uri)
    mapping = lp.add_wf(_two_step_wf())
    assert len(mapping) == 2
    (ready,) = lp.get_fw_ids({"state": "READY"})
    (waiting,) = lp.get_fw_ids({"state": "WAITING"})
    assert lp.get_fw_dict_by_id(ready)["name"] == "parent"
    assert lp.get_fw_dict_by_id(waiting)["name"] == "child"

    # reserve (what the agent does for offline runs), then run and complete
    fw, launch_id = lp.reserve_fw(FWorker(), str(tmp_path / "launch1"))
    assert fw.name == "parent"
    assert lp.get_fw_dict_by_id(fw.fw_id)["state"] == "RESERVED"
    lp.complete_launch(launch_id, FWAction(stored_data={"energy_eV": -1.5}), "COMPLETED")
    assert lp.get_fw_dict_by_id(fw.fw_id)["state"] == "COMPLETED"

    # the child became READY; checkout_fw claims and marks it RUNNING in one step
    child, child_launch = lp.checkout_fw(FWorker(), str(tmp_path / "launch2"))
    assert child.name == "child"
    assert lp.get_fw_dict_by_id(child.fw_id)["state"] == "RUNNING"
    lp.complete_launch(child_launch, FWAction(), "COMPLETED")
    assert lp.get_wf_by_fw_id(child.fw_id).state == "COMPLETED"
    assert lp.get_launch_by_id(launch_id).action.stored_data == {"energy_eV": -1.5}
    assert lp.reserve_fw(FWorker(), str(tmp_path / "launch3")) == (None, None)


def test_reopen_and_from_dict_see_the_same_data(db_uri: str) -> None:
    lp = get_launchpad(db_uri)
    lp.add_wf(_two_step_wf())
    again = get_launchpad(db_uri)
    assert again.get_fw_ids() == lp.get_fw_ids()
    # FireWorks' tools (lpad, the web GUI) rebuild LaunchPads from dicts
    rebuilt = LaunchPad.from_dict(lp.to_dict())
    assert rebuilt.get_fw_ids() == lp.get_fw_ids()
    # the id counters are not reset by reopening
    lp.add_wf(_two_step_wf())
    assert len(set(again.get_fw_ids())) == 4


def test_indexes_are_created_on_a_new_database(db_uri: str) -> None:
    lp = get_launchpad(db_uri)
    names = set(lp.fireworks.index_information())
    assert {"fw_id_1", "state_1"} <= names
    assert "launch_id_1" in set(lp.launches.index_information())


def test_launchpad_usable_from_another_thread(db_uri: str, tmp_path: Path) -> None:
    """FireWorks pings launches from a thread; the web GUI serves requests from threads."""
    lp = get_launchpad(db_uri)
    lp.add_wf(_two_step_wf())
    _fw, launch_id = lp.checkout_fw(FWorker(), str(tmp_path / "launch"))
    errors: list[BaseException] = []

    def ping() -> None:
        try:
            for _ in range(20):
                lp.ping_launch(launch_id)
                lp.get_fw_ids({"state": "WAITING"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ping) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        lp.get_fw_ids({"state": "RUNNING"})
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert lp.get_launch_by_id(launch_id).state == "RUNNING"


def test_default_uri_is_embedded_store_in_home(tmp_path: Path) -> None:
    with settings_env(home=tmp_path):
        lp = get_launchpad()
        lp.add_wf(_two_step_wf())
    assert (tmp_path / "db" / "htflow" / "fireworks").is_file()


def test_unreachable_mongodb_is_one_line_error_without_password() -> None:
    start = time.monotonic()
    with pytest.raises(DatabaseUnreachableError) as info:
        get_launchpad("mongodb://alice:hunter2@127.0.0.1:9/campaign")
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert elapsed < 10
    assert message.startswith("cannot reach MongoDB at alice:***@127.0.0.1:9") or (
        "cannot reach MongoDB at 127.0.0.1:9" in message
    )
    assert "check the URI or start the server" in message
    assert "hunter2" not in message
    assert "\n" not in message
    assert isinstance(info.value, HtflowError)


def test_rocket_runs_workflow_with_ping_thread(
    db_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FireWorks' own launcher (ping thread included) runs a workflow end to end."""
    from fireworks.core.rocket_launcher import rapidfire

    lp = get_launchpad(db_uri)
    lp.add_wf(_two_step_wf())
    monkeypatch.chdir(tmp_path)
    rapidfire(lp, FWorker(), strm_lvl="ERROR")
    assert lp.get_fw_ids({"state": "COMPLETED"}) == lp.get_fw_ids()


def test_ready_fw_ids_batch_in_claim_order(db_uri: str, tmp_path: Path) -> None:
    lp = get_launchpad(db_uri)
    for priority in (1, 5, 3):
        fw = Firework(
            ScriptTask.from_str("true"), name=f"p{priority}", spec={"_priority": priority}
        )
        lp.add_wf(fw)
    lp.add_wf(Firework(ScriptTask.from_str("true"), name="p0"))
    ids = ready_fw_ids(lp, 3)
    names = [lp.get_fw_dict_by_id(i)["name"] for i in ids]
    assert names == ["p5", "p3", "p1"]
    for fw_id in ids:
        fw, _launch_id = lp.reserve_fw(FWorker(), str(tmp_path / str(fw_id)), fw_id=fw_id)
        assert fw.fw_id == fw_id
    assert [lp.get_fw_dict_by_id(i)["name"] for i in ready_fw_ids(lp, 10)] == ["p0"]
