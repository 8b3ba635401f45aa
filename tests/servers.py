"""Real server processes for tests that need what only a process shows: workers, logs, restarts."""

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.settings import SOURCE_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base_url: str, process: subprocess.Popen, deadline_s: float = 60) -> None:
    """Poll /healthz until it answers; fail early if the process died."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a starting process, not waiting for a result
    raise TimeoutError(f"{base_url} did not start")


@contextmanager
def running(
    command: Sequence[str], env: dict[str, str], port: int, log: Path
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `command` (which serves on 127.0.0.1:port), yield its base URL, stop it after."""
    with log.open("wb") as stream:
        process = subprocess.Popen(
            list(command),
            cwd=SOURCE_ROOT,
            env={**os.environ, **env},
            stdout=stream,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base_url, process)
            yield base_url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def until(check: Callable[[], bool], what: str, deadline_s: float = 30) -> None:
    """Poll a running server until `check` holds (the thing waited for is another process)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {deadline_s} s: {what}")


def spawned_children(server: subprocess.Popen) -> list[int]:
    """The processes `server` started with multiprocessing's spawn: its web workers or, with one
    web worker, its render processes."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    workers = []
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            workers.append(int(pid))
    return workers
