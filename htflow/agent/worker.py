"""``python -m htflow.agent.worker``: the worker's old module path, for job scripts only.

Allocations submitted before the worker moved to :mod:`htflow.launch.worker` (issue 13) may
still be queued with this command in their job script; they run the same worker. Import
:mod:`htflow.launch.worker`, never this module.
"""

from __future__ import annotations

import sys

from htflow.launch.worker import main

if __name__ == "__main__":
    sys.exit(main())
