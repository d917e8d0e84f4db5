"""The launch contract reads htflow's own variables through htflow.settings, at call time."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from htflow.launch import feed
from htflow.launch.worker import stream_environment
from htflow.settings import settings_env

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "htflow.yaml"))
    for name in ("HTFLOW_IDLE_WAIT", "HTFLOW_MPI_LAUNCHER", "HTFLOW_MPI_EXTRA_ARGS"):
        monkeypatch.delenv(name, raising=False)


def test_idle_wait_is_the_setting_read_now(tmp_path: Path) -> None:
    assert feed.idle_wait() == 0.0
    (tmp_path / "htflow.yaml").write_text("idle_wait: 30\n")
    assert feed.idle_wait() == 30.0
    with settings_env(idle_wait=120):
        assert feed.idle_wait() == 120.0


def test_srun_streams_follow_the_settings_file_too(tmp_path: Path) -> None:
    (tmp_path / "htflow.yaml").write_text("mpi_launcher: srun\nmpi_extra_args: ['-c2']\n")
    extra = json.loads(stream_environment(2)["HTFLOW_MPI_EXTRA_ARGS"])
    assert sorted(extra) == ["--exclusive", "-N1", "-c2"]
    assert "HTFLOW_MPI_EXTRA_ARGS" not in stream_environment(1)
