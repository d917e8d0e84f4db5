"""Completed launches over time: counts per bin and the bars of a small inline SVG chart."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

# Bin widths (s) tried in order: the first giving at most MAX_BINS bins over the span wins.
BIN_WIDTHS = (60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)
MAX_BINS = 48
MIN_SLOTS = 24
WIDTH, HEIGHT = 600, 120


def _seconds(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(value, str) and value:
        try:
            return _seconds(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def throughput(ends: Iterable[Any]) -> dict[str, Any]:
    """Completed launches per bin from their end times (ISO strings or datetimes, UTC).

    Returns
    -------
    dict
        ``bin_seconds``, ``bins`` (``start`` ISO time, ``count``), ``total``, ``per_hour``
        (over the whole span), and ``bars`` (x, y, width, height, label) for a
        ``WIDTH`` × ``HEIGHT`` SVG.
    """
    times = sorted(t for t in (_seconds(v) for v in ends) if t is not None)
    if not times:
        return {"bin_seconds": None, "bins": [], "total": 0, "per_hour": None, "bars": []}
    span = times[-1] - times[0]
    width = next((w for w in BIN_WIDTHS if span / w < MAX_BINS), BIN_WIDTHS[-1])
    first = times[0] - times[0] % width
    counts = [0] * (int((times[-1] - first) // width) + 1)
    for t in times:
        counts[int((t - first) // width)] += 1
    bins: list[dict[str, Any]] = [
        {
            "start": dt.datetime.fromtimestamp(first + i * width, dt.UTC).strftime(
                "%Y-%m-%d %H:%M"
            ),
            "count": n,
        }
        for i, n in enumerate(counts)
    ]
    top = max(counts)
    bar_w = WIDTH / max(len(counts), MIN_SLOTS)  # a lone bin is a bar, not a block
    bars = [
        {
            "x": round(i * bar_w, 1),
            "width": round(max(bar_w - 1, 1), 1),
            "height": round(HEIGHT * n / top, 1),
            "y": round(HEIGHT - HEIGHT * n / top, 1),
            "label": f"{b['start']} UTC: {n}",
        }
        for i, (b, n) in enumerate(zip(bins, counts, strict=True))
    ]
    hours = max(span, width) / 3600.0
    return {
        "bin_seconds": width,
        "bins": bins,
        "total": len(times),
        "per_hour": round(len(times) / hours, 1),
        "bars": bars,
    }
