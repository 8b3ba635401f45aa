"""Packs made in render processes of their own, shared by every request of the web process.

Each uvicorn worker used to render its own requests' packs, one at a time. A supporter's
connection lands on a worker by chance, so one worker could have a queue while the other had
none, and its supporters waited longer. Here the web process hands each pack to whichever render
process is free, first come, first served (app/render/pack_queue.py), and no longer shares its
GIL with WeasyPrint. A pack waiting for its turn, or for its render process, is a coroutine on
the event loop: it holds no thread. benchmarks/README.md has the figures.

Each render process builds its own LetterRenderer, lays out the fixed parts (WARM_UP), then makes
whole packs: it is sent the supporter's validated form, the officials, the date and the appeal
variants, and sends back the PDF or the exception (the render budget; any other only by its kind).
A render process that dies (killed, out of memory) is replaced, and the pack it held is tried
once more on the new one; should that fail too, the supporter is told to try again (503),
nothing counted. Processes that fail as they start are tried again after a pause that doubles up
to a minute, by themselves (while /readyz says not ready, no pack may come). A render that hangs
past twice its budget (in C code, where the budget's watchdog cannot reach) has its own process
stopped and replaced; the others go on. Render processes leave when the web process does, even
when it is killed.
"""

import asyncio
import contextlib
import logging
import logging.config
import math
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from anyio import to_thread

from app.campaign import Recipient, load_campaign
from app.render.budget import RenderBudgetExceeded
from app.render.pack_queue import PackQueue, Restarting
from app.render.pdf import LetterRenderer, Pack, collect_for_packs
from app.settings import Settings
from app.supporter import Supporter

LOGGER = logging.getLogger("letter_campaign.render.pool")
FIRST_PAUSE_S = 1  # before the second start in a row that fails; doubled each time after
MAX_PAUSE_S = 60
_renderer: LetterRenderer | None = None  # in a render process, its own


class RenderError(RuntimeError):
    """A render process failed on a pack; only the kind of error comes back (its message could
    quote the supporter, and not every exception survives the trip between processes)."""


def _leave_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)  # the web process is gone, killed perhaps: nobody will send packs


def _start(
    campaign_dir: Path,
    fonts_dir: Path,
    log_config: dict | None,
    speedups_off: list[str],
    warm_up: bool,
) -> None:
    """Runs first in each render process, before any pack."""
    global _renderer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the web process's to handle
    threading.Thread(target=_leave_with, args=(os.getppid(),), daemon=True).start()
    if log_config:
        logging.config.dictConfig(log_config)
    renderer = LetterRenderer(load_campaign(campaign_dir), fonts_dir, off=speedups_off)
    if warm_up:
        renderer.warm_up_logged()
    _renderer = renderer
    collect_for_packs()


def pack_for(
    renderer: LetterRenderer,
    budget: float,
    supporter: Supporter,
    recipients: Sequence[Recipient],
    today: date,
    variants: Mapping[str, int],
) -> Pack:
    """A supporter's pack, in turn and within the budget: what a render process, or the web
    process itself, does for each pack."""
    letters = renderer.letters(supporter, recipients, today, variants)
    return renderer.make_pack(letters, supporter.language, budget=budget)


def _make_pack(
    budget: float,
    supporter: Supporter,
    recipients: list[Recipient],
    today: date,
    variants: dict[str, int],
) -> Pack:
    assert _renderer is not None, "render process not started"
    return _pack_or_error(_renderer, budget, supporter, recipients, today, variants)


def _pack_or_error(renderer: LetterRenderer, *args: object) -> Pack:
    """pack_for, any failure but the budget's raised as RenderError, which /metrics counts. It
    names the error's kind only: the message could quote the supporter."""
    try:
        return pack_for(renderer, *args)
    except RenderBudgetExceeded:
        raise
    except Exception as exc:
        raise RenderError(type(exc).__name__) from None


class RenderPool:
    """Makes packs as pack_for does, in RENDER_PROCESSES render processes, each
    a one-process executor of its own: a process that hangs or dies is replaced alone, while the
    others go on making packs."""

    def __init__(self, settings: Settings, log_config: dict | None = None) -> None:
        """`log_config`: logging.config's dictionary for the render processes, as the web
        process logs (app/logs.py); the renderer knows nothing of the web's logging."""
        self.processes = processes = settings.render_process_count
        self._args = (
            settings.campaign_dir,
            settings.fonts_dir,
            log_config,
            settings.speedups_off_list,
        )
        self._warm_up = settings.warm_up
        self._context = get_context("spawn")  # fork would copy the web process's threads' locks
        self._queue = PackQueue(processes, settings.render_max_wait_s)
        self._lock = threading.RLock()  # a start that fails at once calls back under it
        self._slots: list[ProcessPoolExecutor | None] = [None] * processes
        self._up: set[int] = set()  # slots whose process has started
        self._all_up_once = False
        self._idle = deque(range(processes))
        self._ready = threading.Event()
        self._failures = 0  # failed starts since a process last started
        self._next_start = 0.0
        self._restarts: list[threading.Timer] = []
        self._closed = False

    @property
    def waiting(self) -> int:
        """Packs waiting for a render process."""
        return self._queue.waiting

    def start(self, ready: threading.Event) -> None:
        """Starts the render processes now, rather than with the first packs. `ready` is set
        once each has laid out the fixed parts and can make packs; later, while at least one
        can (it is cleared while none can)."""
        self._ready = ready
        for slot in range(self.processes):
            with contextlib.suppress(BrokenExecutor):
                self._current(slot)

    def _current(self, slot: int) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise BrokenExecutor("the render processes were stopped")
            executor = self._slots[slot]
            if executor is None:
                if time.monotonic() < self._next_start:
                    raise BrokenExecutor("render processes failed: waiting to start new ones")
                executor = self._launch(slot)
            return executor

    def _launch(self, slot: int) -> ProcessPoolExecutor:
        self._slots[slot] = executor = ProcessPoolExecutor(
            1, mp_context=self._context, initializer=_start, initargs=(*self._args, self._warm_up)
        )
        # The first call runs once the initializer is done, and fails if it failed.
        executor.submit(os.getpid).add_done_callback(
            lambda call: self._started(slot, executor, call)
        )
        return executor

    def _started(self, slot: int, executor: ProcessPoolExecutor, call: Future) -> None:
        if call.cancelled() or call.exception() is not None:
            self._replace(slot, executor, "a render process failed to start")
            return
        with self._lock:
            if self._slots[slot] is not executor:
                return  # replaced or closed meanwhile
            self._up.add(slot)
            self._failures = 0
            if len(self._up) == self.processes and not self._all_up_once:
                self._all_up_once = True
                LOGGER.info("%d render processes ready", self.processes)
            if self._all_up_once:
                self._ready.set()

    def _replace(self, slot: int, broken: ProcessPoolExecutor, why: str) -> None:
        """Stops a broken process and starts a new one in its slot: at once after a process
        that had started, else after a pause that doubles up to a minute (a campaign file
        broken on disk would otherwise cost a process start for every pack)."""
        with self._lock:
            if self._slots[slot] is not broken:
                return
            had_started = slot in self._up
            self._up.discard(slot)
            if not had_started:
                self._failures += 1
            pause = (
                0
                if self._failures <= 1
                else min(FIRST_PAUSE_S * 2 ** (self._failures - 2), MAX_PAUSE_S)
            )
            self._next_start = max(self._next_start, time.monotonic() + pause)
            LOGGER.warning("%s; starting new render processes in %d s", why, pause)
            if not self._up:
                self._ready.clear()
            _stop(broken)
            self._slots[slot] = None
            if self._closed:
                return
            # Started without waiting for a pack: while /readyz says not ready, none may come.
            restart = threading.Timer(pause, self._relaunch, args=(slot,))
            restart.daemon = True
            restart.start()
            self._restarts = [t for t in self._restarts if t.is_alive()] + [restart]

    def _relaunch(self, slot: int) -> None:
        with self._lock:
            if not self._closed and self._slots[slot] is None:
                self._launch(slot)

    async def make_pack(
        self,
        budget: float,
        supporter: Supporter,
        recipients: Sequence[Recipient],
        today: date,
        variants: Mapping[str, int],
    ) -> Pack:
        """The pack; Busy when the wait would be too long, Restarting when
        render processes are being replaced, RenderBudgetExceeded past the budget (the process
        replaced past twice the budget), RenderError when the render failed."""
        args = (supporter, list(recipients), today, dict(variants))
        async with self._queue.turn():
            slot = self._idle.popleft()  # the queue lets no more packs in than there are slots
            try:
                try:
                    return await self._run(slot, budget, *args)
                except BrokenExecutor:
                    pass  # its process stopped: once more, on a new one
                try:
                    return await self._run(slot, budget, *args)
                except BrokenExecutor:
                    wait = math.ceil(self._next_start - time.monotonic())
                    raise Restarting(wait if wait > 0 else None) from None
            finally:
                self._idle.append(slot)

    async def _run(self, slot: int, budget: float, *args: object) -> Pack:
        executor = self._current(slot)
        try:
            # submit() raises at once when the executor has already seen its process die.
            call = executor.submit(_make_pack, budget, *args)
            return await asyncio.wait_for(asyncio.wrap_future(call), timeout=2 * budget + 5)
        except BrokenProcessPool:
            self._replace(slot, executor, "a render process stopped")
            raise
        except TimeoutError:
            self._replace(slot, executor, "a render process hung past twice its budget")
            raise RenderBudgetExceeded(budget) from None

    def close(self) -> None:
        """Stops the render processes once the packs they are making are done (the server has
        stopped taking requests by then); processes still starting are stopped at once."""
        with self._lock:
            self._closed = True
            executors = [(slot, e) for slot, e in enumerate(self._slots) if e is not None]
            self._slots = [None] * self.processes
            for restart in self._restarts:
                restart.cancel()
            up = set(self._up)
        for slot, executor in executors:
            if slot not in up:
                _stop(executor)
            executor.shutdown(wait=True, cancel_futures=True)


class RenderInProcess:
    """Makes packs in the web process itself (RENDER_PROCESSES=0), one at a time in a worker
    thread: for development and the tests, which then need no process of their own per app.
    The budget is held by a watchdog in that thread (app/render/budget.py)."""

    def __init__(self, renderer: LetterRenderer, settings: Settings) -> None:
        self.renderer = renderer
        self._queue = PackQueue(1, settings.render_max_wait_s)

    @property
    def waiting(self) -> int:
        return self._queue.waiting

    async def make_pack(
        self,
        budget: float,
        supporter: Supporter,
        recipients: Sequence[Recipient],
        today: date,
        variants: Mapping[str, int],
    ) -> Pack:
        async with self._queue.turn():
            return await to_thread.run_sync(
                _pack_or_error, self.renderer, budget, supporter, recipients, today, variants
            )


def _stop(executor: ProcessPoolExecutor) -> None:
    """Stopped rather than asked: a process may be stuck. Python 3.11's executor has no public
    way to stop its processes (3.14 has terminate_workers)."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
