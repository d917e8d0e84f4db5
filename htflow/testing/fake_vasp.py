"""Stand-in ``vasp`` executable for tests: ``python -m htflow.testing.fake_vasp``.

Replays the recorded run that ``$HTFLOW_VASP_REPLAY`` assigns to the current directory
(see :mod:`htflow.testing.vasp_replay`). Exit codes: 0 replayed outputs, the attempt's code
for a replayed failure, 3 inputs differ from the recording, 2 replay misconfigured.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from htflow.testing.vasp_replay import REPLAY_ENV, ReplayError, replay


def main() -> int:
    """Replay one VASP start in the current directory."""
    manifest = os.environ.get(REPLAY_ENV)
    if not manifest:
        print(f"fake vasp: {REPLAY_ENV} is not set: point it at a replay manifest", file=sys.stderr)
        return 2
    try:
        code, stdout, stderr = replay(Path.cwd(), Path(manifest))
    except ReplayError as exc:
        print(f"fake vasp: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(stdout)
    sys.stderr.write(stderr + ("\n" if stderr else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
