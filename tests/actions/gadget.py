"""Importing this module is the attack: it creates the file named by $HTFLOW_TEST_GADGET.

A flow in the agent's inbox that names ``tests.actions.gadget`` under ``@module`` makes
``MontyDecoder`` import it; the inbox must refuse the file before that can happen.
"""

from __future__ import annotations

import os
from pathlib import Path

_marker = os.environ.get("HTFLOW_TEST_GADGET")
if _marker:
    Path(_marker).write_text("the gadget ran")


class Gadget:
    """Something for ``@class`` to name."""
