"""Lighthouse on the campaign page, in each UI language, as a phone on a slow connection sees it.

Starts `letter-campaign serve` on 127.0.0.1 with a fresh database, runs Lighthouse (the npm
package pinned in package.json, on Debian's Chromium) with its mobile defaults: a phone's screen,
a CPU four times slower, and slow 4G simulated (150 ms round trips, 1.6 Mbit/s). Prints the four
category scores per language, with first contentful paint, largest contentful paint, total
blocking time and the bytes transferred, and exits 1 when a score is below issue 25's goals
(performance 0.95, the other three 1.0). Nothing leaves 127.0.0.1; it stops by itself.

    python -m benchmarks.lighthouse [--languages en ru kk] [--keep FOLDER]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.settings import SOURCE_ROOT

HOST = "127.0.0.1"
LIGHTHOUSE = SOURCE_ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
GOALS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 1.0, "seo": 1.0}
METRICS = {
    "FCP": "first-contentful-paint",
    "LCP": "largest-contentful-paint",
    "TBT": "total-blocking-time",
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def serving(env: dict[str, str] | None = None) -> Iterator[str]:
    """The service on a free port of 127.0.0.1, with a fresh database; yields its base URL."""
    command = [sys.executable, "-m", "app.cli"]  # this checkout's app, whatever is installed
    with tempfile.TemporaryDirectory() as folder:
        served_env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{folder}/lighthouse.db",
            "LOG_LEVEL": "warning",
            "RENDER_PROCESSES": "0",
            "WARM_UP": "false",
            **(env or {}),
        }
        subprocess.run(
            [*command, "migrate"], cwd=SOURCE_ROOT, env=served_env, check=True, capture_output=True
        )
        port = free_port()
        with (Path(folder) / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [*command, "serve", "--host", HOST, "--port", str(port)],
                cwd=SOURCE_ROOT,
                env=served_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            base_url = f"http://{HOST}:{port}"
            try:
                wait_ready(base_url, process)
                yield base_url
            finally:
                process.terminate()
                process.wait(timeout=20)


def wait_ready(base_url: str, process: subprocess.Popen, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling a starting process
    raise SystemExit(f"{base_url} did not start")


def audit(url: str, report: Path) -> dict:
    """Lighthouse's report on `url` (mobile, simulated slow 4G), also written to `report`."""
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            f"--only-categories={','.join(CATEGORIES)}",
            f"--chrome-flags={' '.join(CHROME_FLAGS)}",
            "--output=json",
            f"--output-path={report}",
            "--quiet",
        ],
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        check=True,
        timeout=180,
    )
    return json.loads(report.read_text(encoding="utf-8"))


def scores(report: dict) -> dict[str, float]:
    return {name: report["categories"][name]["score"] for name in CATEGORIES}


def short_of_goals(report: dict) -> list[str]:
    """Each category below its goal, with the audits that cost it points."""
    found = []
    for name, goal in GOALS.items():
        category = report["categories"][name]
        if category["score"] < goal:
            failing = [
                ref["id"]
                for ref in category["auditRefs"]
                if ref.get("weight", 0) > 0
                and report["audits"][ref["id"]].get("score") not in (None, 1)
            ]
            found.append(f"{name} {category['score']:.2f} < {goal} ({', '.join(failing)})")
    return found


def summary(language: str, report: dict) -> str:
    audits = report["audits"]
    metrics = "  ".join(
        f"{label} {audits[name]['numericValue'] / 1000:.2f} s"
        if label != "TBT"
        else f"{label} {audits[name]['numericValue']:.0f} ms"
        for label, name in METRICS.items()
    )
    transferred = audits["total-byte-weight"]["numericValue"] / 1024
    figures = "  ".join(f"{name} {score:.2f}" for name, score in scores(report).items())
    version = report["lighthouseVersion"]
    return f"{language}: {figures}  |  {metrics}  {transferred:.1f} KiB  (Lighthouse {version})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--languages", nargs="+", default=["en", "ru", "kk"])
    parser.add_argument("--keep", type=Path, help="a folder to keep the JSON reports in")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, mobile, simulated slow 4G")
    problems = []
    with tempfile.TemporaryDirectory() as folder, serving() as base_url:
        reports = args.keep or Path(folder)
        reports.mkdir(parents=True, exist_ok=True)
        for language in args.languages:
            report = audit(f"{base_url}/?lang={language}", reports / f"lighthouse-{language}.json")
            print(summary(language, report), flush=True)
            problems += [f"{language}: {problem}" for problem in short_of_goals(report)]
    for problem in problems:
        print(f"below the goal: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
