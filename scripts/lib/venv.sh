# Sourced by scripts/demo and scripts/test: make sure .venv exists and has
# the project installed with the extras named in $MPC_EXTRAS. Progress goes
# to stderr so a command's standard output stays clean (`--json`).

set -euo pipefail

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
                2>/dev/null
        then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer is required; install it and retry" >&2
    return 1
}

ensure_venv() {
    local root extras python stamp wanted installed
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    extras=${MPC_EXTRAS:-}
    if [ ! -x "$root/.venv/bin/python" ]; then
        python=$(find_python)
        echo "creating virtual environment in $root/.venv" >&2
        "$python" -m venv "$root/.venv" >&2
    fi
    # Reinstall when pyproject.toml changes or extras are missing. An
    # install with the test extras also serves the demo.
    stamp="$root/.venv/.mpc-installed"
    wanted=$(sha256sum "$root/pyproject.toml" | cut -c1-64)
    installed=$(cat "$stamp" 2>/dev/null || true)
    if [ "${installed%% *}" != "$wanted" ] ||
        { [ -n "$extras" ] && [ "${installed#* }" != "$extras" ]; }
    then
        echo "installing the project${extras:+ with extras $extras}" >&2
        "$root/.venv/bin/python" -m pip install --quiet \
            -e "$root${extras:+[$extras]}" >&2
        echo "$wanted ${extras:-none}" >"$stamp"
    fi
}
