"""The FireWorks 2.1.4 offline-path workaround: rocket.py's zopen calls without a mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fireworks.core import rocket

from htflow.fireworks_compat import patch_fireworks

if TYPE_CHECKING:
    from pathlib import Path


def test_zopen_without_mode_reads_text_and_explicit_modes_pass(tmp_path: Path) -> None:
    patch_fireworks()
    patched = rocket.zopen
    patch_fireworks()
    assert rocket.zopen is patched  # idempotent: never wraps twice
    path = tmp_path / "FW_offline.json"
    with rocket.zopen(path, "wt") as f:
        f.write('{"launch_id": 1}')
    with rocket.zopen(path) as f:
        assert f.read() == '{"launch_id": 1}'
    with rocket.zopen(path, "rb") as f:
        assert f.read() == b'{"launch_id": 1}'
