"""A bounded load test: simulated supporters posting POST /api/letters to the real server.

Starts `letter-campaign serve` on 127.0.0.1 as the image runs it on two cores (one web worker,
two render processes; --workers and --render-processes change that) with a database of its own
(a fresh PostgreSQL database on the local server when it answers, else SQLite), warms every
language up, then lets N concurrent supporters, each on its own connection, post packs until the
time or the request budget runs out (--fresh-connections: a new connection for every pack, as
supporters who each make one pack come). Prints packs per second, p50/p95/p99 latency, errors,
and each server process's memory at the start and the end. Nothing leaves 127.0.0.1; it stops
by itself.

    python -m benchmarks.load --clients 16 --seconds 60 --max-packs 10000
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings
from benchmarks.bench_pdf import KAZAKH_NAME, SENTENCE, Ways, machine, signature_image
from benchmarks.bench_pdf import supporter as sample_supporter

HOST = "127.0.0.1"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BUSY = "refused: render queue full"
RETRY_AFTER_S = 5  # what the service's 503 asks for
NAMES = [KAZAKH_NAME, "Anna Schmidt", "Иван Петров", "Łucja Wąsowska", "Jean-Luc Ørsted"]


def supporters(count: int, seed: int = 11) -> list[bytes]:
    """Request bodies: languages, officials, messages and signatures mixed as supporters would."""
    rng = random.Random(seed)
    drawn = signature_image()
    bodies = []
    for _ in range(count):
        length = rng.choice([0, 0, 0, 120, 400, 900, 1500])
        message = (SENTENCE * 10)[:length].rstrip() or None
        kind = rng.choice(["drawn", "typed", "none"])
        signature = {"kind": kind, "image": drawn} if kind == "drawn" else {"kind": kind}
        body = {
            "name": rng.choice(NAMES),
            "street": f"Hauptstraße {rng.randint(1, 200)}",
            "postcode": f"{rng.randint(10000, 99999)}",
            "city": rng.choice(["Berlin", "Warszawa", "Vilnius", "Praha"]),
            "country": rng.choice(["DE", "PL", "LT", "CZ"]),
            "language": rng.choice(["en", "ru", "kk"]),
            "recipients": rng.choice([[], [], ["ombudsman", "prosecutor-general"]]),
            "message": message,
            "signature": signature,
        }
        bodies.append(json.dumps(body, ensure_ascii=False).encode())
    return bodies


def reportlab_pack_ms(rounds: int = 15) -> float:
    """How fast the machine is now: the median time of the ReportLab script's six-letter pack
    (benchmarks/reportlab_letter.py), taken before and after the run. These machines' speed
    drifts from hour to hour; the ratio to this reference drifts less."""
    with tempfile.TemporaryDirectory() as work:
        ways = Ways(Settings(), Path(work))
        who = sample_supporter(0)
        ways.prepare(who)
        ways.reportlab(who)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            ways.reportlab(who)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def database(folder: Path, kind: str):
    """A fresh database for the run, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'load.db'}"
        return
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"letter_campaign_load_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 (no PostgreSQL server here: SQLite will do)
        yield f"sqlite:///{folder / 'load.db'}"
        return
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process on the machine (0 without one)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except (OSError, ValueError):
                continue
    return total


def own_cpu() -> float:
    """CPU seconds this load generator has used so far."""
    times = os.times()
    return times.user + times.system


def server_processes(server: subprocess.Popen) -> list[int]:
    """The processes that serve: uvicorn's (its workers, when more than one) and the render
    processes, not the small helpers (uvicorn's supervisor, multiprocessing's resource tracker)."""
    found, todo = [], [server.pid]
    while todo:
        pid = todo.pop()
        todo.extend(children(pid))
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        if "python" in command and rss_mib(pid) > 50:
            found.append(pid)
    return sorted(found)


def role(pid: int) -> str:
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    return "render process" if b"spawn_main" in command else "web"


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[str, float]:
    """What went wrong ("" for a pack) and how long it took."""
    start = time.perf_counter()
    connection.request(
        "POST", "/api/letters", body=body, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    if response.status == 503 and b"too many packs are waiting" in data:
        return BUSY, elapsed
    if response.status != 200:
        return f"HTTP {response.status}", elapsed
    if not response.getheader("Content-Type", "").startswith("application/pdf"):
        return "not a PDF content type", elapsed
    return ("" if data.startswith(b"%PDF") else "not a PDF body"), elapsed


def wait_ready(port: int, server: subprocess.Popen, deadline: float) -> None:
    """Until /readyz answers ready: the database is there and a worker has warmed up."""
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready in time")


def wait_idle(pids: list[int], deadline: float) -> None:
    """Until no worker uses more than a tenth of a core over half a second."""
    while time.monotonic() < deadline:
        before = {pid: cpu_seconds(pid) for pid in pids}
        time.sleep(0.5)
        if all(cpu_seconds(pid) - before[pid] < 0.05 for pid in pids):
            return
    raise SystemExit("the workers did not settle in time")


@dataclass
class Served:
    """A server started by `serving`: its port and process, its database, and its log once it
    has stopped."""

    port: int
    process: subprocess.Popen
    url: str
    log: str = ""


@contextmanager
def serving(kind: str, settings: dict[str, str | None], serve_args: list[str]) -> Iterator[Served]:
    """`letter-campaign serve` on 127.0.0.1 with a fresh, migrated database of `kind`, warmed
    up and idle; stopped afterwards, with its process group. A setting given as None is
    unset: the service's default."""
    port = free_port()
    command = Path(sys.executable).parent / "letter-campaign"
    with tempfile.TemporaryDirectory() as folder, database(Path(folder), kind) as url:
        # Every simulated supporter comes from 127.0.0.1: the per-address limit is lifted.
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "LOG_LEVEL": "warning",
            "RATE_LIMIT_LETTERS": "",
            "WARM_UP": "true",
        }
        for name, value in settings.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        subprocess.run([str(command), "migrate"], env=env, check=True, capture_output=True)
        log_path = Path(folder) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(command), "serve", "--host", HOST, "--port", str(port), *serve_args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            served = Served(port, process, url)
            try:
                started = time.monotonic()
                wait_ready(port, process, started + 180)
                # Each process that renders lays out the officials' fixed parts at start, once
                # per language, message or not, and appeal variant (18 sets); with several web
                # workers a ready answer may come from one while another still works.
                wait_idle(server_processes(process), started + 180)
                print(f"server ready {time.monotonic() - started:.1f} s after its start (warm-up)")
                yield served
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        served.log = log_path.read_text(errors="replace")


def run(args: argparse.Namespace) -> int:
    bodies = supporters(500)
    reference_before = reportlab_pack_ms()
    settings = {"RENDER_PROCESSES": str(args.render_processes)}
    with serving(args.database, settings, ["--workers", str(args.workers)]) as served:
        port = served.port
        pids = server_processes(served.process)
        warm = [http.client.HTTPConnection(HOST, port, timeout=30) for _ in range(2)]
        for number, body in enumerate(bodies[: args.warmup]):
            post(warm[number % 2], body)
        roles = {pid: role(pid) for pid in pids}
        before = {pid: rss_mib(pid) for pid in pids}
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        postgres_before, own_before = postgres_cpu(), own_cpu()
        results = hammer(port, bodies, args, pids)
        after = {pid: rss_mib(pid) for pid in pids if alive(pid)}
        results["cpu"] = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in pids if alive(pid)}
        results["server_cpu"] = sum(results["cpu"].values())
        results["roles"] = roles
        results["postgres_cpu"] = postgres_cpu() - postgres_before
        results["client_cpu"] = own_cpu() - own_before
    results["reference_ms"] = (reference_before + reportlab_pack_ms()) / 2
    report(args, results, before, after, served.url)
    if results["errors"]:
        print("server log, last lines:\n" + "\n".join(served.log.splitlines()[-30:]))
    return 0 if not results["errors"] else 1


def hammer(port: int, bodies: list[bytes], args: argparse.Namespace, pids: list[int]) -> dict:
    latencies: list[float] = []
    refusals: list[float] = []
    stop = threading.Event()
    samples: list[tuple[int, list[float]]] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    budget = [args.max_packs]
    deadline = time.monotonic() + args.seconds

    def post_packs(number: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        turn = number
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            try:
                problem, elapsed = post(connection, bodies[turn % len(bodies)])
            except (OSError, http.client.HTTPException) as exc:
                problem, elapsed = type(exc).__name__, 0.0
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
            with lock:
                if problem == BUSY:
                    refusals.append(elapsed)
                elif problem:
                    errors[problem] = errors.get(problem, 0) + 1
                else:
                    latencies.append(elapsed)
            if args.fresh_connections:
                connection.close()  # http.client opens a new one for the next pack
            if problem == BUSY:  # a polite client waits as Retry-After asks, then tries again
                connection.close()  # the server closes connections idle for 5 s
                stop.wait(min(RETRY_AFTER_S, max(0.0, deadline - time.monotonic())))
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            turn += args.clients
        connection.close()

    def supporter(number: int) -> None:
        try:
            post_packs(number)
        finally:
            with lock:
                finished.append(time.monotonic())
                if len(finished) == args.clients:
                    all_done.set()

    finished: list[float] = []
    all_done = threading.Event()
    start = time.monotonic()
    threads = [threading.Thread(target=supporter, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    # Elapsed until the last supporter is done, not until the next memory sample.
    while True:
        done = all_done.wait(min(args.seconds / 10, 30))
        samples.append((len(latencies), [rss_mib(pid) for pid in pids if alive(pid)]))
        if done:
            break
    for thread in threads:
        thread.join()
    return {
        "latencies": latencies,
        "errors": errors,
        "refusals": refusals,
        "elapsed": max(finished) - start,
        "samples": samples,
    }


def report(args, results: dict, before: dict, after: dict, url: str) -> None:  # noqa: ANN001
    latencies = sorted(results["latencies"])
    done = len(latencies)

    def at(fraction: float) -> float:
        return latencies[min(done - 1, int(fraction * done))] * 1000 if done else float("nan")

    print(f"machine: {machine()}")
    print(
        f"database: {url.split(':', 1)[0]}, server on {HOST}: {args.workers} web worker(s), "
        f"{args.render_processes} render processes"
        + (" (packs rendered in the web workers)" if not args.render_processes else "")
    )
    kept = "a new one for every pack" if args.fresh_connections else "one per supporter, kept alive"
    print(f"connections: {kept}")
    print(f"{args.clients} concurrent supporters, {results['elapsed']:.1f} s, {done} packs")
    print(f"packs per second: {done / results['elapsed']:.1f}")
    if done:
        per_pack = results["server_cpu"] / done
        print(
            f"server CPU per pack: {per_pack * 1000:.1f} ms (all its processes), so at most "
            f"{2 / per_pack:.0f} packs per second on 2 cores with nothing else running"
        )
        reference = results["reference_ms"]
        print(
            f"reference: the ReportLab script makes a six-letter pack in {reference:.1f} ms now "
            f"(mean of before and after); server CPU per pack is "
            f"{per_pack * 1000 / reference:.2f} x that"
        )
        print(
            f"other CPU per pack: PostgreSQL {results['postgres_cpu'] / done * 1000:.1f} ms, "
            f"this load generator {results['client_cpu'] / done * 1000:.1f} ms"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"latency ms: p50 {at(0.5):.0f}, p95 {at(0.95):.0f}, p99 {at(0.99):.0f}", end="")
    print(f", mean {statistics.mean(latencies) * 1000:.0f}" if done else "")
    refusals = sorted(results["refusals"])
    if refusals:
        print(
            f"refused at once, 503 with Retry-After (render queue full): {len(refusals)}, "
            f"in p50 {refusals[len(refusals) // 2] * 1000:.0f} ms, "
            f"max {refusals[-1] * 1000:.0f} ms; those clients wait {RETRY_AFTER_S} s and try again"
        )
    errors = results["errors"]
    print(f"errors: {sum(errors.values())}" + (f" {errors}" if errors else ""))
    for number, (pid, start) in enumerate(before.items()):
        end = after.get(pid)
        shown = f"{end:.0f} MiB" if end is not None else "gone"
        cpu = results["cpu"].get(pid)
        spent = f", CPU {cpu / done * 1000:.1f} ms per pack" if cpu is not None and done else ""
        print(
            f"process {pid} ({results['roles'][pid]}): memory {start:.0f} MiB at start, "
            f"{shown} at end{spent}"
        )
        series = ", ".join(
            f"{rss[number]:.0f}@{done}" for done, rss in results["samples"] if len(rss) > number
        )
        print(f"  MiB@packs done: {series}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-packs", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200, help="packs posted before timing")
    parser.add_argument("--workers", type=int, default=1, help="web workers (WORKERS)")
    parser.add_argument(
        "--render-processes", type=int, default=2, help="RENDER_PROCESSES; 0: workers render"
    )
    parser.add_argument(
        "--fresh-connections", action="store_true", help="a new connection for every pack"
    )
    parser.add_argument(
        "--database",
        choices=["auto", "sqlite"],
        default="auto",
        help="auto: PostgreSQL on 127.0.0.1:5432 when it answers, else SQLite",
    )
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
