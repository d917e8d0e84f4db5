"""The one place htflow works around bugs in FireWorks (2.1.4).

Bug (to report upstream, FireWorks 2.1.4 with monty >= 2025.1):
    ``fireworks/core/rocket.py`` calls ``monty.io.zopen(fpath)`` with no ``mode`` at five
    sites, all on the offline path (``FW_offline.json``): ``Rocket.run`` when it stamps
    ``started_on``, when a task raises, when the Firework completes, in its final
    ``except Exception`` branch, and ``Rocket.update_checkpoint``. monty made ``mode`` a
    required argument of ``zopen`` (it used to default to ``"r"``), so every offline run
    (``rlaunch singleshot --offline``) dies at once with
    ``TypeError: zopen() missing 1 required positional argument: 'mode'``, before any task
    runs and before it can record the failure in ``FW_offline.json``. The fix upstream is to
    pass ``"rt"`` at those five calls (the writes next to them already pass ``"wt"``).

Workaround: :func:`patch_fireworks` replaces the ``zopen`` name inside
``fireworks.core.rocket`` only, by a wrapper that supplies ``mode="rt"`` when the caller gave
none and passes every other call through unchanged. It is idempotent and harmless once
FireWorks is fixed. Callers that run FireWorks' offline path (``htflow.agent``) call it first.
"""

from __future__ import annotations

import functools
from typing import Any

_PATCHED_FLAG = "_htflow_default_mode"


def patch_fireworks() -> None:
    """Apply the workaround described in the module docstring (idempotent)."""
    from fireworks.core import rocket

    if getattr(rocket.zopen, _PATCHED_FLAG, False):
        return
    original = rocket.zopen

    @functools.wraps(original)
    def zopen(filename: Any, mode: str | None = None, **kwargs: Any) -> Any:
        # rocket.py reads FW_offline.json as text; the explicit writes pass "wt" themselves.
        return original(filename, mode if mode is not None else "rt", **kwargs)

    setattr(zopen, _PATCHED_FLAG, True)
    rocket.zopen = zopen
