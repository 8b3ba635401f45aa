"""A semaphore that lets its waiters in first come, first served. Renders in one process take
turns through it: the packs, and the warm-up that lays out the letters' fixed parts.

WeasyPrint holds the GIL, so renders side by side in one process's threads only slow each other
down. threading.Lock lets a newcomer take the lock ahead of threads already waiting, which
stretches the slowest latencies under load; here each thread waits on a lock of its own,
released in order of arrival. (Packs wait for a renderer in app/render/pack_queue.py, on the event
loop; this only orders what reaches the renderer.)
"""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class FifoSemaphore:
    """At most `at_once` holders; the others wait, and are let in in order of arrival."""

    def __init__(self, at_once: int = 1) -> None:
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
    def turn(self) -> Iterator[None]:
        """Waits for this thread's turn, then holds it for the block."""
        with self._guard:
            mine = None
            if self._running >= self.at_once:
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
