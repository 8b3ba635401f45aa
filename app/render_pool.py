"""Packs made in render processes of their own, shared by every request of the web process.

Each uvicorn worker used to render its own requests' packs, one at a time. A supporter's
connection lands on a worker by chance, so one worker could have a queue while the other had
none (16 supporters on two workers: 9 and 7 connections, and the 9 waited longer). Here the web
process hands each pack to whichever render process is free, first come, first served
(app/turns.py), and no longer shares its GIL with WeasyPrint. benchmarks/README.md has the
figures.

Each render process builds its own LetterRenderer, lays out the fixed parts (WARM_UP), then makes
whole packs: it is sent the supporter's validated form, the officials, the date and the appeal
variants, and sends back the PDF or the exception (the render budget; any other only by its kind).
A render process that dies (killed, out of memory) breaks the pool: it is replaced, and the packs
it held are tried once more on the new one; should that fail too, the supporter is told to try
again (503), nothing counted. Processes that fail as they start are tried again after a pause
that doubles up to a minute, by themselves (while /readyz says not ready, no pack may come). A
render that hangs past twice its budget (in C code, where the budget's watchdog cannot reach) has
its pool's processes stopped and replaced. Render processes leave when the web process does, even
when it is killed.
"""

import logging
import logging.config
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from app.budget import RenderBudgetExceeded
from app.campaign import Recipient, load_campaign
from app.logs import logging_config
from app.pdf import LetterRenderer, collect_for_packs
from app.settings import Settings
from app.supporter import Supporter
from app.turns import Restarting, Turns

LOGGER = logging.getLogger("letter_campaign.render_pool")
START_TIMEOUT_S = 600
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
    campaign_dir: Path, fonts_dir: Path, log_level: str, warm_up: bool, started: queue.Queue
) -> None:
    """Runs first in each render process; says so on `started` once it can make packs."""
    global _renderer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the web process's to handle
    threading.Thread(target=_leave_with, args=(os.getppid(),), daemon=True).start()
    logging.config.dictConfig(logging_config(log_level))
    renderer = LetterRenderer(load_campaign(campaign_dir), fonts_dir)
    if warm_up:
        renderer.warm_up_logged()
    _renderer = renderer
    collect_for_packs()
    started.put(os.getpid())


def _make_pack(
    budget: float,
    supporter: Supporter,
    recipients: list[Recipient],
    today: date,
    variants: dict[str, int],
) -> bytes:
    assert _renderer is not None, "render process not started"
    try:
        return _renderer.make_pack(budget, supporter, recipients, today, variants)
    except RenderBudgetExceeded:
        raise
    except Exception as exc:
        raise RenderError(type(exc).__name__) from None


class RenderPool:
    """Makes packs as LetterRenderer.make_pack does, in RENDER_PROCESSES render processes."""

    def __init__(self, settings: Settings) -> None:
        self.processes = processes = settings.render_process_count
        self._args = (settings.campaign_dir, settings.fonts_dir, settings.log_level)
        self._warm_up = settings.warm_up
        self._context = get_context("spawn")  # fork would copy the web process's threads' locks
        self._turns = Turns(settings.render_queue, at_once=processes)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._up = False  # every process of the current executor has started
        self._ready = threading.Event()
        self._failures = 0  # replacements since processes last started
        self._next_start = 0.0
        self._restart: threading.Timer | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Packs waiting for a render process."""
        return self._turns.waiting

    def start(self, ready: threading.Event) -> None:
        """Starts the render processes now, rather than with the first packs. `ready` is set
        once each has laid out the fixed parts and can make packs, and cleared while render
        processes that replace broken ones start."""
        self._ready = ready
        try:
            self._current()
        except BrokenExecutor:
            LOGGER.error("the render processes could not be started")

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise BrokenExecutor("the render processes were stopped")
            if self._executor is None:
                if time.monotonic() < self._next_start:
                    raise BrokenExecutor("render processes failed: waiting to start new ones")
                self._launch()
            assert self._executor is not None
            return self._executor

    def _launch(self) -> None:
        started = self._context.Queue()
        self._up = False
        self._executor = executor = ProcessPoolExecutor(
            self.processes,
            mp_context=self._context,
            initializer=_start,
            initargs=(*self._args, self._warm_up, started),
        )
        # Each call starts a process while none is idle yet; all of them fail if a process
        # cannot start (its initializer failed).
        calls = [executor.submit(os.getpid) for _ in range(self.processes)]
        threading.Thread(
            target=self._await_start, args=(executor, started, calls), daemon=True
        ).start()

    def _await_start(
        self, executor: ProcessPoolExecutor, started: queue.Queue, calls: list[Future]
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        count = 0
        while count < self.processes:
            if self._executor is not executor:
                return  # replaced or closed meanwhile
            if any(call.done() and not call.cancelled() and call.exception() for call in calls):
                self._replace(executor, "render processes failed to start")
                return
            if time.monotonic() > deadline:
                self._replace(
                    executor, f"render processes did not start within {START_TIMEOUT_S} s"
                )
                return
            try:
                started.get(timeout=0.2)
                count += 1
            except queue.Empty:
                continue
        with self._lock:
            if self._executor is not executor:
                return
            self._up = True
            self._failures = 0
            self._ready.set()
        LOGGER.info("%d render processes ready", self.processes)

    def _replace(self, broken: ProcessPoolExecutor, why: str) -> None:
        """Stops a broken pool's processes and starts new ones: at once after processes that
        had started, else after a pause that doubles up to a minute (a campaign file broken on
        disk would otherwise cost two process starts for every pack)."""
        with self._lock:
            if self._executor is not broken:
                return
            self._failures += 1
            pause = (
                0
                if self._failures == 1
                else min(FIRST_PAUSE_S * 2 ** (self._failures - 2), MAX_PAUSE_S)
            )
            self._next_start = time.monotonic() + pause
            LOGGER.warning("%s; starting new render processes in %d s", why, pause)
            self._ready.clear()
            _stop(broken)
            self._executor = None
            # Started without waiting for a pack: while /readyz says not ready, none may come.
            self._restart = threading.Timer(pause, self._relaunch)
            self._restart.daemon = True
            self._restart.start()

    def _relaunch(self) -> None:
        with self._lock:
            if not self._closed and self._executor is None:
                self._launch()

    def make_pack(
        self,
        budget: float,
        supporter: Supporter,
        recipients: Sequence[Recipient],
        today: date,
        variants: Mapping[str, int],
    ) -> bytes:
        """The pack's PDF; turns.Busy when too many packs wait already, turns.Restarting when
        render processes are being replaced, RenderBudgetExceeded past the budget (its processes
        replaced past twice the budget), RenderError when the render failed."""
        args = (supporter, list(recipients), today, dict(variants))
        with self._turns.turn():
            try:
                return self._run(budget, *args)
            except BrokenExecutor:
                pass  # its process stopped: once more, on new ones
            try:
                return self._run(budget, *args)
            except BrokenExecutor:
                wait = math.ceil(self._next_start - time.monotonic())
                raise Restarting(wait if wait > 0 else None) from None

    def _run(self, budget: float, *args: object) -> bytes:
        executor = self._current()
        try:
            return executor.submit(_make_pack, budget, *args).result(timeout=2 * budget + 5)
        except BrokenProcessPool:
            self._replace(executor, "a render process stopped")
            raise
        except TimeoutError:
            self._replace(executor, "a render process hung past twice its budget")
            raise RenderBudgetExceeded(budget) from None

    def close(self) -> None:
        """Stops the render processes once the packs they are making are done (the server has
        stopped taking requests by then); processes still starting are stopped at once."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            starting = not self._up
            if self._restart is not None:
                self._restart.cancel()
        if executor is not None:
            if starting:
                _stop(executor)
            executor.shutdown(wait=True, cancel_futures=True)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Stopped rather than asked: a process may be stuck. Python 3.11's executor has no public
    way to stop its processes (3.14 has terminate_workers)."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
