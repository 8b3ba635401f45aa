"""Every make target installs what it runs: a target that runs the tests or a benchmark first
sets up the test lock (httpx, pytest...), a benchmark the bench lock (the test lock and
reportlab, typst), so that it works after a fresh `make install`."""

import re
import subprocess

import pytest

from app.settings import SOURCE_ROOT

# `$(BIN)/pytest` in the Makefile, `.venv/bin/pytest` in what make prints
TEST_TOOLS = re.compile(r"bin\)?/(pytest|python -m benchmarks\.)", re.IGNORECASE)


def targets_using_test_tools() -> list[str]:
    found, target = {}, None
    for line in (SOURCE_ROOT / "Makefile").read_text().splitlines():
        if match := re.match(r"^([a-z][a-z-]*):", line):
            target = match.group(1)
        elif line.startswith("\t") and target and TEST_TOOLS.search(line):
            found[target] = True
    return list(found)


def test_the_tests_and_every_benchmark_are_found():
    found = set(targets_using_test_tools())
    assert {"test", "fuzz", "bench", "load", "soak", "bench-counts"} <= found


@pytest.mark.parametrize("target", targets_using_test_tools())
def test_the_target_installs_the_test_lock_before_it_runs(target):
    dry_run = subprocess.run(
        ["make", "-n", target], cwd=SOURCE_ROOT, capture_output=True, text=True, check=True
    )
    commands = dry_run.stdout.splitlines()
    first_use = next(i for i, command in enumerate(commands) if TEST_TOOLS.search(command))
    installs = {"scripts/install.sh --test", "scripts/install.sh --bench"}
    assert installs & set(commands[:first_use]), commands


@pytest.mark.parametrize("target", ["bench", "load", "burst", "soak"])
def test_a_benchmark_installs_the_bench_lock_and_nothing_unlocked(target):
    dry_run = subprocess.run(
        ["make", "-n", target], cwd=SOURCE_ROOT, capture_output=True, text=True, check=True
    )
    commands = dry_run.stdout.splitlines()
    assert "scripts/install.sh --bench" in commands
    assert not [command for command in commands if "pip install" in command], commands
