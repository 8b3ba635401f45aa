#!/usr/bin/env bash
# Sets up this checkout: system libraries, the virtualenv, front-end packages and fonts.
# Used by `make install` (to run the service), `make install-test` (--test: browsers and PDF
# tools for the tests too), `make install-bench` (--bench: the tests' set-up and the benchmarks'
# packages) and the Dockerfile. Safe to run again: it only does what is missing.
# Python packages come from the locks in requirements/ (`make lock` writes them), every file
# checked against its hash, so that each install has the same versions.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
lock=service
case "${1:-}" in
  --test) WITH_TEST=1 lock=test ;;
  --bench) WITH_TEST=1 lock=bench ;;
  "") ;;
  *) echo "usage: $0 [--test|--bench]" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

say() { printf 'install: %s\n' "$*" >&2; }

# --- system packages (Debian) -------------------------------------------------------------
# grep reads the whole list (no -q): with pipefail, a grep that stops at the first match would
# fail the pipe when the list's writer is killed by SIGPIPE, and a library would seem missing.
missing=()
ldconfig -p 2>/dev/null | grep 'libpango-1.0.so' >/dev/null || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
fc-list 2>/dev/null | grep 'DejaVuSerif.ttf' >/dev/null || missing+=(fonts-dejavu-core fontconfig)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ "$WITH_TEST" = 1 ]; then
  command -v pdftotext >/dev/null || missing+=(poppler-utils)
  command -v msgfmt >/dev/null || missing+=(gettext)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install: missing system packages; install them first: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# --- Python ---------------------------------------------------------------------------------
# First pip and the build backend, then the lock (built without isolation, so that a package
# that comes as source, such as feedgen, is built with the locked setuptools, not whatever the
# index has that day), then this checkout itself, editable, with nothing more.
stamp="$VENV/.installed[$lock]"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stale=0
[ -f "$stamp" ] || stale=1
for input in pyproject.toml requirements/build.txt "requirements/$lock.txt"; do
  if [ "$input" -nt "$stamp" ]; then stale=1; fi
done
if [ "$stale" = 1 ]; then
  say "installing Python packages from requirements/$lock.txt"
  pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes)
  "${pip[@]}" -r requirements/build.txt
  "${pip[@]}" --no-build-isolation -r "requirements/$lock.txt"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
  touch "$stamp"
fi

# --- the pages' translations: compile app/locales/*/LC_MESSAGES/messages.po ----------------
"$VENV/bin/pybabel" -q compile -d app/locales

# --- front-end packages and fonts from the npm registry -----------------------------------
# No package needs its install scripts; swagger-ui-dist's would phone home. The test tools among
# them (axe-core, lighthouse: devDependencies) are left out unless --test, so the image has none.
fresh() { [ -f "$1" ] && [ ! package-lock.json -nt "$1" ]; }
if [ "$WITH_TEST" = 1 ]; then
  if ! fresh node_modules/.installed-with-dev; then
    say "installing front-end packages and test tools"
    npm ci --silent --no-audit --no-fund --ignore-scripts
    touch node_modules/.installed-with-dev
  fi
elif ! fresh node_modules/.package-lock.json; then
  say "installing front-end packages"
  npm ci --silent --no-audit --no-fund --ignore-scripts --omit=dev
fi
# The fonts: the letters' TrueType font and the pages' WOFF2 subset of it (app/fonts.py).
for font in build/fonts/handwriting.ttf build/fonts/handwriting.woff2; do
  if [ ! -f "$font" ] || [ node_modules/.package-lock.json -nt "$font" ] || [ app/fonts.py -nt "$font" ]; then
    "$VENV/bin/python" -m app.fonts
    break
  fi
done
say "ready"
