"""Pages of a sorted list: 50 rows each, never overlapping, and a short-lived snapshot cache."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Sequence

T = TypeVar("T")
PER_PAGE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: rows ``[(number - 1) * per_page, number * per_page)`` of the sorted list."""

    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def first_row(self) -> int:
        """1-based index of the first row shown (0 when empty)."""
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_row(self) -> int:
        """1-based index of the last row shown."""
        return self.first_row + len(self.items) - 1 if self.items else 0


def page_number(value: str | None) -> int:
    """``?page=`` as a number ≥ 1 (anything else: 1)."""
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def paginate(rows: Sequence[T], number: int, per_page: int = PER_PAGE) -> Page[T]:
    """Page ``number`` (1-based, clamped to the last page) of ``rows``, already sorted.

    Pages are slices of one sorted list at fixed offsets, so consecutive pages never share a
    row (FireWorks' GUI skips ``page - 1`` rows instead of ``(page - 1) × per_page`` on its
    metadata pages, so its pages overlap).
    """
    pages = max(1, -(-len(rows) // per_page))
    number = min(max(1, number), pages)
    start = (number - 1) * per_page
    return Page(list(rows[start : start + per_page]), number, per_page, len(rows))


class SnapshotCache:
    """Results kept ``ttl`` seconds; concurrent callers of one key wait for one computation.

    Pollers (every open page asks for its counts every few seconds) then share one read of
    the store instead of each doing its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, ttl: float, compute: Callable[[], T]) -> T:
        """The cached value of ``key`` if younger than ``ttl`` s, else ``compute()``."""
        if ttl <= 0:
            return compute()
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                value: T = hit[1]
                return value
            value = compute()
            self._values[key] = (time.monotonic(), value)
            return value
