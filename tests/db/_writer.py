"""Subprocess for the crash tests: acknowledged writes to the embedded store, one line per ack.

Usage: python _writer.py <store dir> <first index> [<delay s>]

Each loop iteration inserts document i, updates it, and every 10th adds a workflow with one
Firework; after each write returns it prints an acknowledgement line and flushes:
``I <i>``, ``U <i>``, ``W <i> <fw_id>``. The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import sys
import time

from fireworks import Firework, ScriptTask, Workflow

from htflow.db import get_launchpad, writer_lock


def main() -> None:
    """Write until killed."""
    path, first = sys.argv[1], int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    with writer_lock(path):
        lp = get_launchpad(path)
        coll = lp.db["crash_test"]
        print("READY", flush=True)
        i = first
        while True:
            coll.insert_one({"_id": i, "i": i, "state": "inserted", "pad": "x" * 512})
            print(f"I {i}", flush=True)
            coll.update_one({"_id": i}, {"$set": {"state": "updated"}})
            print(f"U {i}", flush=True)
            if i % 10 == 0:
                fw = Firework(ScriptTask.from_str("true"), name=f"crash-{i}")
                mapping = lp.add_wf(Workflow([fw], name=f"crash-{i}"))
                print(f"W {i} {next(iter(mapping.values()))}", flush=True)
            i += 1
            if delay:
                time.sleep(delay)


if __name__ == "__main__":
    main()
