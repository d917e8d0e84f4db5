"""A one-line status of the agent's work, for output that is not a terminal.

In a CI log, under ``nohup`` or in a batch job nobody sees a progress bar, and an agent
that prints nothing for twenty minutes looks hung. :class:`ProgressReporter` prints
:func:`status_line` at most every ``progress_interval`` seconds (an htflow setting,
default 30 s); the agent loop calls it after every pass and while it naps, so a line
appears at that rate however busy or idle the agent is::

    htflow: 0:12:03 elapsed; fireworks 20: RUNNING 2, READY 5, COMPLETED 13; running 2: a, b
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from htflow.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fireworks import LaunchPad

# Unfinished states first, in the order work moves through them; then the final ones.
STATE_ORDER = (
    "RUNNING",
    "RESERVED",
    "READY",
    "WAITING",
    "PAUSED",
    "FIZZLED",
    "DEFUSED",
    "COMPLETED",
)
MAX_NAMES_WIDTH = 80  # running calculations' names are listed while they fit in this (chars)
MAX_NAME = 40  # a name longer than this is not "short": only the count is shown


def format_elapsed(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds."""
    minutes, secs = divmod(int(max(0.0, seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def status_line(
    states: Mapping[str, int], running: Sequence[str], elapsed: float, prefix: str = "htflow"
) -> str:
    """One line: elapsed time, Fireworks by state, and the running calculations.

    Parameters
    ----------
    states
        Firework state → count (states with no Firework may be absent or 0).
    running
        Names of the running calculations.
    elapsed
        Time since the agent started (s).
    prefix
        What the line starts with.
    """
    counts = [(s, n) for s, n in states.items() if n]
    counts.sort(key=lambda item: (_rank(item[0]), item[0]))
    total = sum(n for _, n in counts)
    by_state = ", ".join(f"{s} {n}" for s, n in counts) or "none"
    line = f"{prefix}: {format_elapsed(elapsed)} elapsed; fireworks {total}: {by_state}"
    if running:
        line += f"; running {len(running)}{_names(running)}"
    return line


def _rank(state: str) -> int:
    return STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER)


def _names(running: Sequence[str]) -> str:
    """``: a, b`` while the names are short and fit; ``: a, b and 3 more`` when some do not."""
    shown: list[str] = []
    width = 0
    for name in running:
        if len(name) > MAX_NAME or width + len(name) + 2 > MAX_NAMES_WIDTH:
            break
        shown.append(name)
        width += len(name) + 2
    if not shown:
        return ""
    rest = len(running) - len(shown)
    return ": " + ", ".join(shown) + (f" and {rest} more" if rest else "")


def firework_snapshot(
    lp: LaunchPad, query: Mapping[str, Any] | None = None
) -> tuple[dict[str, int], list[str]]:
    """Firework state → count, and the names of the RUNNING ones, for ``query`` (all if None)."""
    docs = lp.fireworks.find(dict(query or {}), {"state": 1, "name": 1, "_id": 0})
    states: Counter[str] = Counter()
    running: list[str] = []
    for doc in docs:
        state = str(doc.get("state", "UNKNOWN"))
        states[state] += 1
        if state == "RUNNING":
            running.append(str(doc.get("name") or "?"))
    return dict(states), sorted(running)


def _print(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


class ProgressReporter:
    """Print :func:`status_line` when ``progress_interval`` seconds have passed; call it often.

    Parameters
    ----------
    snapshot
        Returns ``(states, running names)`` now, e.g. ``lambda: firework_snapshot(lp)``.
    write
        Where a line goes (default: stdout, flushed).
    prefix
        What each line starts with.
    clock
        Monotonic seconds (a test may pass its own).

    The interval is the ``progress_interval`` setting, read when the reporter starts and
    after each line. The first line comes one interval after the start.
    """

    def __init__(
        self,
        snapshot: Callable[[], tuple[Mapping[str, int], Sequence[str]]],
        write: Callable[[str], None] = _print,
        *,
        prefix: str = "htflow",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._write = write
        self._prefix = prefix
        self._clock = clock
        self.started = clock()
        self._due = self.started + get_settings().progress_interval

    def __call__(self, *, force: bool = False) -> bool:
        """Print a line if one is due (or ``force``); return whether one was printed."""
        now = self._clock()
        if now < self._due and not force:
            return False
        states, running = self._snapshot()
        self._write(status_line(states, running, now - self.started, self._prefix))
        self._due = now + get_settings().progress_interval
        return True
