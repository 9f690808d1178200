#!/bin/sh
# Create .venv (Python 3.11) and install the pinned dependencies and the project into it.
# Safe to run again: it reinstalls only when requirements.txt or pyproject.toml changed.
set -eu
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
    echo "cs-warehouse needs Python 3.11; '$PYTHON' is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
    exit 1
}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

stamp=.venv/.cs-warehouse-installed
wanted=$(cat requirements.txt pyproject.toml | cksum)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$wanted" > "$stamp"
fi
