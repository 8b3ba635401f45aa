"""The line packs wait in for a renderer: first come, first served, and refused only when the
wait it promises is too long.

A launch or a viral post brings hundreds of supporters within a second. Each pack takes tens of
milliseconds of a render process, so a few hundred waiting packs are a few seconds of waiting:
better a short wait than a refusal, which loses a letter. A waiting pack is a suspended coroutine
on the event loop, holding no thread and no database connection, so the line costs little. A
newcomer is refused (Busy, 503 with Retry-After) only when the wait it can expect, from the packs
ahead of it and how long packs have taken lately, passes RENDER_MAX_WAIT_S.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

FIRST_GUESS_S = 0.1  # a pack's time before any was measured; a warmed-up pack takes less
WEIGHT = 0.2  # of the latest pack in the running average


class Busy(Exception):  # noqa: N818 (named for what the client is told)
    """The pack cannot be made now: the wait for a renderer would be too long (or, in a pool,
    render processes are being replaced). Nothing was made; the client tries again later."""

    def __init__(
        self, reason: str = "too many packs are waiting to be made", retry_after: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after  # seconds, when known better than the default


class Restarting(Busy):
    """The pack cannot be made now: the render processes stopped and are being started again
    (app/render/pool.py), which takes seconds to a minute, not the moment a queue takes."""

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__("the render processes are being restarted", retry_after)


class PackQueue:
    """`at_once` packs render at a time; the others wait their turn in order of arrival."""

    def __init__(self, at_once: int, max_wait_s: float) -> None:
        self.at_once = at_once
        self.max_wait_s = max_wait_s
        self.pack_seconds = FIRST_GUESS_S
        self._running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Packs waiting for their turn now."""
        return len(self._waiting)

    def expected_wait(self) -> float:
        """Seconds a newcomer can expect to wait for its turn, from the running average."""
        if self._running < self.at_once:
            return 0.0
        rounds = len(self._waiting) // self.at_once + 1
        return rounds * self.pack_seconds

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Waits for this pack's turn, then holds it for the block; Busy if the expected wait
        passes the bound."""
        if self._running < self.at_once:
            self._running += 1
        else:
            wait = self.expected_wait()
            if wait > self.max_wait_s:
                raise Busy(retry_after=max(1, math.ceil(wait - self.max_wait_s)))
            mine = asyncio.get_running_loop().create_future()
            self._waiting.append(mine)
            try:
                await mine  # the pack before us hands its turn on
            except asyncio.CancelledError:
                if mine.done() and not mine.cancelled():
                    self._hand_on()  # handed the turn as we left: pass it on
                else:
                    self._waiting.remove(mine)
                raise
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            self.pack_seconds += WEIGHT * (took - self.pack_seconds)
            self._hand_on()

    def _hand_on(self) -> None:
        while self._waiting:
            following = self._waiting.popleft()
            if not following.done():
                following.set_result(None)
                return
        self._running -= 1
