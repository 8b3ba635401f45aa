"""Renders take turns, first come, first served: one at a time in a process that renders itself,
as many at once as there are render processes in a pool (app/render_pool.py).

WeasyPrint holds the GIL, so packs rendered side by side in one process's threads only slow each
other down; parallelism comes from processes. threading.Lock lets a newcomer take the lock
ahead of threads already waiting, which stretches the slowest latencies under load; here each
thread waits on a lock of its own, released in order of arrival.

The queue is bounded: past `limit` waiting packs a newcomer is refused at once (`Busy`), so under
overload the packs that are made still come after a bounded wait, and waiting packs never take
all of the threads a worker serves its pages from.
"""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class Busy(Exception):  # noqa: N818 (named for what the client is told)
    """The pack cannot be made now: too many wait for their turn already (or, in a pool,
    render processes are being replaced). Nothing was made; the client tries again later."""

    def __init__(
        self, reason: str = "too many packs are waiting to be made", retry_after: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after  # seconds, when known better than the default


class Restarting(Busy):
    """The pack cannot be made now: the render processes stopped and are being started again
    (app/render_pool.py), which takes seconds to a minute, not the moment a queue takes."""

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__("the render processes are being restarted", retry_after)


class Turns:
    def __init__(self, limit: int | None = None, at_once: int = 1) -> None:
        self.limit = limit
        self.at_once = at_once
        self._guard = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._running = 0

    @property
    def waiting(self) -> int:
        """Threads waiting for their turn now."""
        with self._guard:
            return len(self._waiting)

    @contextmanager
    def turn(self, limited: bool = True) -> Iterator[None]:
        """Waits for this thread's turn, then holds it for the block; Busy if `limit` packs
        wait already (unless not `limited`: work that must be done, such as the warm-up)."""
        with self._guard:
            mine = None
            if self._running >= self.at_once:
                if limited and self.limit is not None and len(self._waiting) >= self.limit:
                    raise Busy()
                mine = threading.Lock()
                mine.acquire()
                self._waiting.append(mine)
            else:
                self._running += 1
        if mine is not None:
            mine.acquire()  # released by the thread before us, which hands its turn to us
        try:
            yield
        finally:
            with self._guard:
                if self._waiting:
                    self._waiting.popleft().release()
                else:
                    self._running -= 1
