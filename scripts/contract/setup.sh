#!/usr/bin/env bash
# Creates (idempotently) the Python venv used by the contract checks and installs the
# pinned tools from requirements.txt next to this script.
#
#   scripts/contract/setup.sh            # venv at <repo>/target/contract-venv
#   CONTRACT_VENV=/some/dir setup.sh     # elsewhere
#
# Re-running is cheap: the venv is reused, and pip is skipped when the installed set
# already matches requirements.txt (a stamp file holds the hash of the last install).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${CONTRACT_VENV:-$repo/target/contract-venv}"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

# The pinned versions need Python >= 3.10 (openapi-python-client, schemathesis 4.x).
"$python" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"contract tooling needs Python >= 3.10, found {sys.version.split()[0]}")
PY

# Several tests may call this at once: one of them sets up, the others wait for it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

# A venv left half-made (no pip: an interrupted run, or python3-venv missing when it was
# made) is made again rather than used.
if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "setup: the venv at $venv has no pip; making it again"
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup: creating venv at $venv"
    if ! "$python" -m venv "$venv"; then
        rm -rf "$venv"
        echo "setup: '$python -m venv' failed; on Debian install python3-venv (apt-get install -y python3-venv)" >&2
        exit 1
    fi
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/pip" check >/dev/null 2>&1; then
    echo "setup: venv up to date ($venv)"
else
    echo "setup: installing pinned tools from $req"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi

# Show what is installed, so a log says which versions ran.
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -Ei '^(openapi-spec-validator|openapi-python-client|schemathesis|hypothesis|httpx|requests|jsonschema) ' \
    | sed 's/^/setup:   /'
