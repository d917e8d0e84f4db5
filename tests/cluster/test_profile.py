"""Cluster profiles: every shipped profile loads and renders; bad input fails in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from htflow.cluster.profile import (
    ClusterProfile,
    available_profiles,
    format_walltime,
    load_profile,
    parse_walltime,
)
from htflow.cluster.render import render_job_script
from htflow.exceptions import InputError
from htflow.settings import settings_env

SHIPPED = ["hpc-offline-nodes", "hpc-srun-modules", "local"]


def test_shipped_profiles_are_listed() -> None:
    assert set(SHIPPED) <= set(available_profiles())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads_renders_and_round_trips(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    for job_type in [None, "static", "relax", *profile.routing]:
        script = render_job_script(profile, ["true"], "/scratch/launch/1", "Si2", job_type=job_type)
        assert script.startswith("#!/bin/bash")
        assert "set -euo pipefail" in script
        assert "#SBATCH --time=" in script
    again = ClusterProfile.model_validate(profile.model_dump())
    assert again == profile


def test_local_profile_is_the_single_node_cluster() -> None:
    profile = load_profile("local")
    assert profile.local_cluster
    assert profile.partition == "debug"
    assert (profile.nodes, profile.tasks_per_node) == (1, 2)
    resources = profile.resources_for("static")
    # mpirun -np 2 needs two task slots in the allocation.
    assert resources.total_tasks >= resources.ranks_per_calculation == 2


def test_srun_site_routes_statics_small_and_relaxations_large() -> None:
    profile = load_profile("hpc-srun-modules")
    assert profile.mpi_launcher == "srun"
    assert "quantum-espresso/7.2" in profile.modules
    assert profile.tasks_per_node == 128
    small, large = profile.resources_for("static"), profile.resources_for("relax")
    assert (small.resource_class, small.nodes, small.walltime) == ("small", 1, 7200)
    assert (large.resource_class, large.nodes, large.walltime) == ("large", 4, 86400)
    assert large.account == profile.account == "project_0001"
    debug = profile.resources_for("debug")  # a class may also be named directly
    assert (debug.partition, debug.walltime) == ("debug", 1800)
    unknown = profile.resources_for("a-job-type-nobody-routed")
    assert (unknown.resource_class, unknown.walltime) == ("default", 12 * 3600)


def test_offline_site_names_secrets_only() -> None:
    profile = load_profile("hpc-offline-nodes")
    script = render_job_script(profile, ["true"], "/scratch/x", "x")
    assert "LM_LICENSE_FILE:?" in script
    assert "unset HTFLOW_DB_URI" in script


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 1800),
        ("90", 5400),
        ("10:30", 630),
        ("01:00:00", 3600),
        ("48:00:00", 172800),
        ("1-00", 86400),
        ("1-02:30", 95400),
        ("2-00:00:01", 172801),
    ],
)
def test_walltime_takes_minutes_and_slurm_clock_forms(text: int | str, seconds: int) -> None:
    assert parse_walltime(text) == seconds
    assert parse_walltime(format_walltime(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "1h", "00:00:00", -5, "1:2:3:4"])
def test_bad_walltime_is_rejected(bad: int | str) -> None:
    with pytest.raises(ValueError, match="walltime"):
        parse_walltime(bad)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("name: x\nnodes: [1\n", r"site.yaml line \d+: not valid YAML"),
        ("name: x\nnodez: 2\n", r"site.yaml: key 'nodez': Extra inputs are not permitted"),
        ("name: x\nnodes: two\n", r"key 'nodes': .*integer"),
        ("name: x\nwalltime: 1h\n", r"key 'walltime': walltime '1h' is not minutes"),
        ("name: x\nmpi_launcher: aprun\n", r"key 'mpi_launcher'"),
        ("name: x\npartition: 'a b'\n", r"key 'partition': 'a b' may hold only"),
        ("name: x\nextra_sbatch: ['--x=1; rm']\n", r"key 'extra_sbatch'"),
        ("name: x\nresources: {small: {nodez: 1}}\n", r"key 'resources.small.nodez'"),
        ("name: x\nrouting: {static: small}\n", r"routing sends 'static' to 'small'"),
        ("name: x\nenvironment: {DB_PASSWORD: hunter2}\n", r"looks like a secret"),
        (
            "name: x\nenvironment: {URL: 'mongodb://u:p@host/db'}\n",
            r"looks like a secret: secrets never reach compute jobs",
        ),
        ("name: x\ncore_hour_budget: -1\n", r"key 'core_hour_budget': .*greater than or equal"),
        ("name: x\ncore_hour_budget: lots\n", r"key 'core_hour_budget': .*number"),
        ("- a\n- b\n", r"must be a mapping"),
    ],
)
def test_bad_profile_is_one_line_naming_file_and_key(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    with pytest.raises(InputError, match=expected) as info:
        load_profile(_write(tmp_path, yaml_text))
    assert "\n" not in str(info.value)
    assert "site.yaml" in str(info.value)


def test_missing_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(InputError, match=r"not found: use a path or one of .*local"):
        load_profile("no-such-site")


def test_default_profile_comes_from_settings(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: mysite\npartition: cpu\nwalltime: 15\n")
    with settings_env(cluster_profile=path):
        profile = load_profile()
    assert (profile.name, profile.partition, profile.walltime) == ("mysite", "cpu", 900)
    with settings_env(cluster_profile="local"):
        assert load_profile().name == "local"


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    assert load_profile(_write(tmp_path, "partition: cpu\n")).name == "site"


def test_core_hour_budget_is_optional_core_hours(tmp_path: Path) -> None:
    assert load_profile("local").core_hour_budget is None
    assert load_profile("hpc-srun-modules").core_hour_budget == 500000
    profile = load_profile(_write(tmp_path, "name: x\ncore_hour_budget: 1250.5\n"))
    assert profile.core_hour_budget == 1250.5
    assert load_profile(_write(tmp_path, "name: x\ncore_hour_budget: 0\n")).core_hour_budget == 0
