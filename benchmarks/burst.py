"""A launch: N supporters press the button within one second, on the default configuration.

Starts `letter-campaign serve` as `make run` does on two cores (one web process, two render
processes, warmed up) on a fresh database, then lets N supporters, each on a connection of its
own, post POST /api/letters at evenly spread moments within `--within` seconds. Prints how many
were refused, p50/p99 latency, and when the last pack arrived; and, as the reference taken in the
same run, how long one pack takes when nobody else is there, so that the last pack's time reads as
a ratio to the ideal (N packs shared by the render processes, one after another). Nothing leaves
127.0.0.1; it stops by itself.

    python -m benchmarks.burst --supporters 200 --within 1
"""

import argparse
import http.client
import os
import statistics
import sys
import threading
import time

from benchmarks.load import BUSY, HOST, post, serving, supporters


def burst(port: int, bodies: list[bytes], within: float) -> list[tuple[str, float, float]]:
    """(what went wrong, latency, done since the first press) for each supporter."""
    results: list[tuple[str, float, float]] = [("not run", 0.0, 0.0)] * len(bodies)
    connections = [http.client.HTTPConnection(HOST, port, timeout=120) for _ in bodies]
    for connection in connections:
        connection.connect()  # each supporter's connection is open before the launch
    start = time.perf_counter() + 0.2

    def press(number: int) -> None:
        moment = start + within * number / len(bodies)
        time.sleep(max(0.0, moment - time.perf_counter()))
        try:
            problem, elapsed = post(connections[number], bodies[number])
        except OSError as exc:
            problem, elapsed = type(exc).__name__, time.perf_counter() - moment
        results[number] = (problem, elapsed, time.perf_counter() - start)

    threads = [threading.Thread(target=press, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return results


def alone_ms(port: int, bodies: list[bytes], rounds: int = 20) -> float:
    """The median time of one pack when nobody else is there."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    times = []
    for body in bodies[:rounds]:
        problem, elapsed = post(connection, body)
        if problem:
            raise SystemExit(f"reference pack failed: {problem}")
        times.append(elapsed * 1000)
    return statistics.median(times)


def run(args: argparse.Namespace) -> int:
    bodies = supporters(args.supporters + 40)
    # The default: one render process per CPU.
    with serving(args.database, {"RENDER_PROCESSES": None}, []) as served:
        reference = alone_ms(served.port, bodies[args.supporters :])
        results = burst(served.port, bodies[: args.supporters], args.within)
    report(args, results, reference, served.url)
    return 0 if all(not problem for problem, _, _ in results) else 1


def report(args: argparse.Namespace, results: list, reference: float, url: str) -> None:
    made = [r for r in results if not r[0]]
    refused = [r for r in results if r[0] == BUSY]
    failed = [r for r in results if r[0] and r[0] != BUSY]
    latencies = sorted(r[1] * 1000 for r in made)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    last = max((r[2] for r in made), default=0.0)
    processes = min(len(os.sched_getaffinity(0)), 4)
    ideal = args.supporters * reference / 1000 / processes
    kind = url.split(":", 1)[0].split("+", 1)[0]
    print(f"{args.supporters} supporters within {args.within:g} s, {kind}, {processes} processes")
    print(f"  packs made {len(made)}, refused {len(refused)}, failed {len(failed)}")
    print(f"  latency p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms, max {latencies[-1]:.0f} ms")
    print(f"  last pack {last:.2f} s after the first press")
    print(f"  reference: one pack alone {reference:.0f} ms; ideal for all {ideal:.2f} s")
    print(f"  last pack / ideal: {last / ideal:.2f}")
    if failed:
        print("  failures: " + ", ".join(sorted({r[0] for r in failed})))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--supporters", type=int, default=200)
    parser.add_argument("--within", type=float, default=1.0, help="seconds")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    if args.supporters < 2:
        parser.error("--supporters must be at least 2")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
