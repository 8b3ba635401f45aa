"""A hard time budget for rendering a pack of letters.

Input limits (app/supporter.py) keep the worst accepted pack near one second; this is the wall
behind them, for whatever slips through (a template bug, a font that lays out slowly). WeasyPrint
runs in the request's worker thread and a thread cannot be killed, so a watchdog raises
`RenderBudgetExceeded` inside that thread (CPython's PyThreadState_SetAsyncExc). Layout is Python
code, so the exception lands within milliseconds of the budget; the thread then goes back to the
pool and the worker keeps serving.
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


class _Watch:
    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.lock = threading.Lock()
        self.done = False
        self.fired = False

    def expire(self) -> None:
        with self.lock:
            if not self.done:
                self.fired = True
                _raise_in(self.thread_id, RenderBudgetExceeded)

    def finish(self) -> None:
        with self.lock:
            self.done = True
            if self.fired:
                _raise_in(self.thread_id, None)


def within_budget(seconds: float, work: Callable[..., T], *args: object) -> T:
    """`work(*args)`, or RenderBudgetExceeded once it has run for `seconds`."""
    watch = _Watch(threading.get_ident())
    timer = threading.Timer(seconds, watch.expire)
    timer.daemon = True
    timer.start()
    try:
        result = work(*args)
    except RenderBudgetExceeded:
        raise RenderBudgetExceeded(seconds) from None
    finally:
        timer.cancel()
        watch.finish()
    if watch.fired:
        raise RenderBudgetExceeded(seconds)
    return result
