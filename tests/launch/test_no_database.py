"""The compute side never reaches the database: importing the worker loads no database code."""

from __future__ import annotations

import json
import subprocess
import sys

# htflow's database layer and the drivers under it.
DATABASE_PACKAGES = ("htflow.db", "litemongo", "pymongo")


def test_importing_the_worker_loads_no_database_module() -> None:
    code = (
        "import json, sys\n"
        "import htflow.launch.worker\n"
        f"packages = {DATABASE_PACKAGES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if any(m == p or m.startswith(p + '.') for p in packages))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
