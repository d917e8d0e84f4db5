"""Crash safety of the embedded store: kill -9 the writer at random moments, lose nothing acked."""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from htflow.db import get_launchpad

WRITER = Path(__file__).with_name("_writer.py")
KILLS = 5


def _start_writer(path: Path, first: int, delay: float = 0.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(first), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY", "writer did not start"
    return proc


def _read_acks(proc: subprocess.Popen[str], seconds: float) -> list[str]:
    """Acknowledgement lines the writer printed within ``seconds`` (it keeps running)."""
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            lines.append(proc.stdout.readline())
    return lines


def _kill(proc: subprocess.Popen[str]) -> list[str]:
    """SIGKILL the writer, then collect the acks it flushed before dying."""
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.stdout is not None
    rest = proc.stdout.read().splitlines(keepends=True)
    proc.wait()
    return rest


def _integrity_ok(store: Path) -> None:
    for path in (store / "htflow").iterdir():
        if path.name.endswith(("-wal", "-shm")):
            continue
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path


def test_kill_minus_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    store = tmp_path / "db"
    rng = random.Random(20240611)
    inserted: set[int] = set()
    updated: set[int] = set()
    workflows: dict[int, int] = {}
    first = 0
    for _ in range(KILLS):
        proc = _start_writer(store, first)
        lines = _read_acks(proc, rng.uniform(0.3, 1.2))
        lines += _kill(proc)
        for line in lines:
            if not line.endswith("\n"):  # a partial line is not an acknowledgement
                continue
            kind, *values = line.split()
            if kind == "I":
                inserted.add(int(values[0]))
            elif kind == "U":
                updated.add(int(values[0]))
            elif kind == "W":
                workflows[int(values[0])] = int(values[1])
        assert inserted, "the writer acknowledged nothing before the kill"
        first = max(inserted) + 2  # skip the id that may or may not have been written

        # After the crash the store opens cleanly and holds every acknowledged write.
        _integrity_ok(store)
        lp = get_launchpad(str(store))
        coll = lp.db["crash_test"]
        present = {doc["_id"]: doc["state"] for doc in coll.find({}, {"state": 1})}
        assert inserted <= set(present), sorted(inserted - set(present))[:10]
        assert all(present[i] == "updated" for i in updated)
        for i, fw_id in workflows.items():
            fw = lp.get_fw_dict_by_id(fw_id)
            assert fw["name"] == f"crash-{i}"
            assert fw["state"] == "READY"
            assert lp.get_wf_by_fw_id(fw_id).name == f"crash-{i}"
        lp.connection.close()
    assert len(workflows) >= KILLS


def test_reader_in_another_process_sees_commits_while_writer_writes(tmp_path: Path) -> None:
    store = tmp_path / "db"
    proc = _start_writer(store, 0, delay=0.005)
    try:
        lp = get_launchpad(str(store))  # the reader: this test process
        coll = lp.db["crash_test"]
        seen_counts = []
        acked = 0
        for _ in range(10):
            for line in _read_acks(proc, 0.1):
                if line.startswith("I "):
                    acked = max(acked, int(line.split()[1]))
            count = coll.count_documents({})
            # Everything acknowledged before we looked is visible (ids start at 0).
            assert count >= acked + 1
            assert coll.find_one({"_id": acked}) is not None
            seen_counts.append(count)
        assert seen_counts == sorted(seen_counts)
        assert seen_counts[-1] > seen_counts[0], "the reader saw no new commits"
        fw_ids = lp.get_fw_ids({"state": "READY"})
        assert fw_ids, "the reader saw no workflow"
    finally:
        _kill(proc)
