"""A hard time budget for rendering a pack of letters.

Input limits (app/supporter.py) keep the worst accepted pack near one second; this is the wall
behind them, for whatever slips through (a template bug, a font that lays out slowly). WeasyPrint
runs in the thread that makes the pack (in a render process, or with RENDER_PROCESSES=0 in a web
worker's thread), and a thread cannot be killed, so a watchdog raises `RenderBudgetExceeded` inside
that thread (CPython's PyThreadState_SetAsyncExc). Layout is Python code, so the exception lands
soon after the budget ends and the thread goes on with the next pack. A render stuck where no
exception reaches it (a long call into Pango) is app/render/pool.py's: it replaces the process.
"""

import ctypes
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` in that thread at its next bytecode; None withdraws a pending one."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), None if exception is None else ctypes.py_object(exception)
    )


class RenderBudgetExceeded(Exception):  # noqa: N818 (named for what the client is told)
    """Rendering took longer than the budget allows."""

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__(f"rendering took longer than its budget of {seconds:g} s")
        self.seconds = seconds

    def __reduce__(self) -> tuple:
        # Sent back from a render process (app/render/pool.py) as itself, seconds and all.
        return (type(self), (self.seconds,))


class _Watch:
    """Waits out the budget, then raises in the working thread until the work has stopped.

    It raises again every REPEAT_S: an exception that lands in a garbage-collector callback or a
    __del__ method is swallowed there ("unraisable"), and the work would go on.
    """

    REPEAT_S = 0.05
    REPEATS = 200  # then the work is past saving, and the thread is left alone

    def __init__(self, thread_id: int, seconds: float) -> None:
        self.thread_id = thread_id
        self.seconds = seconds
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.done = False
        self.fired = False

    def run(self) -> None:
        if self.stopped.wait(self.seconds):
            return
        for _ in range(self.REPEATS):
            with self.lock:
                if self.done:
                    return
                self.fired = True
                _raise_in(self.thread_id, RenderBudgetExceeded)
            if self.stopped.wait(self.REPEAT_S):
                return

    def finish(self) -> None:
        with self.lock:
            self.done = True
            if self.fired:
                _raise_in(self.thread_id, None)  # withdraw one not raised yet
        self.stopped.set()


def within_budget(seconds: float, work: Callable[..., T], *args: object) -> T:
    """`work(*args)`, or RenderBudgetExceeded once it has run for `seconds`."""
    watch = _Watch(threading.get_ident(), seconds)
    try:
        # Started inside the try: a short budget can expire while start() still waits.
        threading.Thread(target=watch.run, name="render-budget", daemon=True).start()
        result = work(*args)
    except RenderBudgetExceeded:
        raise RenderBudgetExceeded(seconds) from None
    finally:
        while True:  # a repeat may land in finish() itself: finish all the same
            try:
                watch.finish()
                break
            except RenderBudgetExceeded:
                continue
    if watch.fired:
        raise RenderBudgetExceeded(seconds)
    return result
