"""The locks in requirements/ and the set-up that installs from them.

`make lock` writes them from pyproject.toml (and requirements/build.in); scripts/install.sh
installs from them, every file checked against its hash, for `make install`, `make install-test`,
CI and the Dockerfile. So the service and its tests run the same versions, and an install today
gives the versions it gave yesterday.
"""

import os
import shutil
import subprocess
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.render.speedups import CHECKED_WITH
from app.settings import SOURCE_ROOT

LOCKS = SOURCE_ROOT / "requirements"
# Each lock holds the one before it, at the same versions.
CHAIN = ["build", "service", "test", "bench"]
# The extras of pyproject.toml each lock is for (build.txt is for [build-system]).
EXTRAS = {"service": [], "test": ["test"], "bench": ["test", "bench"]}
PYPROJECT = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())


def entries(lock: str) -> dict[str, Requirement]:
    """The lock's pins, each under its line without the hashes (one package may have several,
    each for the Pythons or platforms its marker says)."""
    found = {}
    lines = (LOCKS / f"{lock}.txt").read_text().splitlines()
    for line in lines:
        if line[:1].isalnum():
            requirement = Requirement(line.removesuffix("\\").strip())
            found[str(requirement)] = requirement
    return found


def hashes(lock: str) -> dict[str, list[str]]:
    """Each pin's hashes, under the same key as `entries`."""
    found: dict[str, list[str]] = {}
    key = ""
    for line in (LOCKS / f"{lock}.txt").read_text().splitlines():
        if line[:1].isalnum():
            key = str(Requirement(line.removesuffix("\\").strip()))
            found[key] = []
        elif line.strip().startswith("--hash="):
            found[key].append(line.strip().removesuffix("\\").strip())
    return found


def pins(lock: str) -> dict[str, str]:
    """The version the lock installs of each package on this machine's Python."""
    found = {}
    for requirement in entries(lock).values():
        if requirement.marker is None or requirement.marker.evaluate():
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", requirement
            found[canonicalize_name(requirement.name)] = specifier.version
    return found


def test_this_virtualenv_has_the_locked_version_of_every_package():
    """The tests run on what `make install-test` installed: the test lock, and nothing else."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    locked = {**pins("build"), **pins("test")}
    differing = {
        name: f"locked {version}, installed {installed.get(name)}"
        for name, version in locked.items()
        if installed.get(name) != version
    }
    assert not differing, "run `make install-test`"


@pytest.mark.parametrize(("smaller", "larger"), list(zip(CHAIN, CHAIN[1:], strict=False)))
def test_a_package_has_the_same_version_and_files_in_every_lock(smaller, larger):
    """What the image runs (service) is what the tests ran (test) and the benchmarks measure."""
    small, large = hashes(smaller), hashes(larger)
    missing = sorted(set(small) - set(large))
    assert not missing, f"{larger}.txt lacks what {smaller}.txt pins: run `make lock`"
    assert {pin: large[pin] for pin in small} == small


@pytest.mark.parametrize("lock", ["service", "test", "bench"])
def test_every_dependency_in_pyproject_is_locked_at_a_version_it_allows(lock):
    project = PYPROJECT["project"]
    wanted = [
        *project["dependencies"],
        *(need for extra in EXTRAS[lock] for need in project["optional-dependencies"][extra]),
    ]
    locked = pins(lock)
    unmet = []
    for need in map(Requirement, wanted):
        if need.marker and not need.marker.evaluate():
            continue
        version = locked.get(canonicalize_name(need.name))
        if version is None or not need.specifier.contains(version, prereleases=True):
            unmet.append(f"{need} (locked: {version})")
    assert not unmet, "run `make lock`"


def test_the_build_backend_pyproject_names_is_locked():
    """install.sh builds the editable install and any package that comes as source without
    isolation, from the locked setuptools."""
    locked = pins("build")
    for need in map(Requirement, PYPROJECT["build-system"]["requires"]):
        assert need.specifier.contains(locked[canonicalize_name(need.name)])
    assert "pip" in locked


@pytest.mark.parametrize("lock", ["service", "test", "bench"])
def test_weasyprint_is_locked_at_the_release_the_speed_ups_were_checked_on(lock):
    """app/render/speedups/ relies on WeasyPrint 70's private classes and functions."""
    assert pins(lock)["weasyprint"].startswith(CHECKED_WITH)


def test_every_locked_file_is_checked_by_its_hash():
    for lock in CHAIN:
        for pin, listed in hashes(lock).items():
            assert listed and all(h.startswith("--hash=sha256:") for h in listed), (lock, pin)


# --- scripts/install.sh, in a copy of the checkout with a virtualenv that records its calls ---

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout whose front-end packages and fonts are set up, and a virtualenv whose python
    and pybabel only record how they are called; so are apt-get and npm, on the PATH."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(SOURCE_ROOT / "scripts" / "install.sh", root / "scripts" / "install.sh")
    for name in ["pyproject.toml", "package-lock.json", "app/fonts.py"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    for lock in CHAIN:
        (root / "requirements").mkdir(exist_ok=True)
        (root / "requirements" / f"{lock}.txt").write_text("")
    made = [
        "node_modules/.package-lock.json",
        "node_modules/.installed-with-dev",
        "build/fonts/handwriting.ttf",
        "build/fonts/handwriting.woff2",
    ]
    for name in made:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
        os.utime(root / name, (2_000_000_000, 2_000_000_000))  # newer than what they come from
    log = tmp_path / "calls"
    for tool in [".venv/bin/python", ".venv/bin/pybabel", "tools/apt-get", "tools/npm"]:
        (root / tool).parent.mkdir(parents=True, exist_ok=True)
        (root / tool).write_text(RECORDER.format(log=log))
        (root / tool).chmod(0o755)
    return root


def install(checkout: Path, *args: str) -> list[str]:
    """Runs install.sh in `checkout`; returns the pip commands it ran."""
    log = checkout.parent / "calls"
    log.unlink(missing_ok=True)
    subprocess.run(
        ["scripts/install.sh", *args],
        cwd=checkout,
        env={**os.environ, "PATH": f"{checkout / 'tools'}:{os.environ['PATH']}"},
        check=True,
        capture_output=True,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    assert not [call for call in calls if call.startswith("apt-get")], "a system package is missing"
    return [call for call in calls if call.startswith("python -m pip")]


@pytest.mark.parametrize(
    ("option", "lock"), [((), "service"), (("--test",), "test"), (("--bench",), "bench")]
)
def test_install_takes_python_packages_from_the_lock_and_nothing_else(checkout, option, lock):
    pip = "python -m pip install -q --disable-pip-version-check"
    assert install(checkout, *option) == [
        f"{pip} --require-hashes -r requirements/build.txt",
        f"{pip} --require-hashes --no-build-isolation -r requirements/{lock}.txt",
        f"{pip} --no-deps --no-build-isolation -e .",
    ]


@pytest.mark.parametrize(
    "changed", [None, "pyproject.toml", "requirements/build.txt", "requirements/test.txt"]
)
def test_install_installs_again_only_when_pyproject_or_a_lock_it_uses_changed(checkout, changed):
    assert install(checkout, "--test")
    for name in ["pyproject.toml", *(f"requirements/{lock}.txt" for lock in CHAIN)]:
        os.utime(checkout / name, (1_000_000_000, 1_000_000_000))
    assert install(checkout, "--test") == [], "the stamp is newer than every input"
    if changed:
        os.utime(checkout / changed, (2_100_000_000, 2_100_000_000))
    assert bool(install(checkout, "--test")) == bool(changed)
    if changed:
        os.utime(checkout / changed, (1_000_000_000, 1_000_000_000))
    # The lock of the other set-up is not this one's input.
    os.utime(checkout / "requirements/service.txt", (2_200_000_000, 2_200_000_000))
    assert install(checkout, "--test") == []
