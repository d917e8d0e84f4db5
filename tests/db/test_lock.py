"""The single-writer lock across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from htflow.db import WriterLockError, lock_holder, writer_lock

HOLDER = """
import sys, time
from htflow.db import writer_lock
with writer_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def _start_holder(uri: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, uri], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_fails_fast_with_holder_pid(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    proc = _start_holder(uri)
    try:
        assert lock_holder(uri) == proc.pid
        start = time.monotonic()
        with pytest.raises(WriterLockError) as info, writer_lock(uri):
            pass
        assert time.monotonic() - start < 1.0
        message = str(info.value)
        assert f"another htflow agent (pid {proc.pid}) holds the database lock" in message
        assert "\n" not in message
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_released_when_holder_is_killed(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    proc = _start_holder(uri)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_holder(uri) is None
    with writer_lock(uri) as path:
        assert path.read_text().strip() == str(os.getpid())
        assert lock_holder(uri) == os.getpid()
    assert lock_holder(uri) is None


def test_lock_is_exclusive_within_one_process(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    with writer_lock(uri), pytest.raises(WriterLockError), writer_lock(uri):
        pass
