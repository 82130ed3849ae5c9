#!/usr/bin/env bash
# The one entry point: sets up everything this machine needs, then runs the demo or the tests.
#
#   ./run.sh demo [args...]   set up and run the live demo twin (args go to
#                             `twinkit demo pumps`: --port, --speedup, --duration, ...)
#   ./run.sh test [args...]   set up and run format check, lint, types and the test suite
#                             (extra args go to pytest)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
APT_UPDATED=0

log() {
    if [ -t 2 ]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || sudo "$@"
    else
        die "need root to run '$*' and sudo is not available"
    fi
}

# ensure_apt PKG...: install the Debian packages that are not installed yet
# (apt-get update runs at most once per invocation).
ensure_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing system packages (${missing[*]}) and apt-get is not available; install them by hand"
    log "installing system packages: ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}

# Print the first Python interpreter that is 3.11 or newer.
find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_system() {
    if ! command -v dpkg >/dev/null 2>&1; then
        return 0 # not Debian-like: trust the system to provide what is below
    fi
    # python3-venv is what Debian's python3 needs for `-m venv`; a compiler and headers only
    # where no C compiler is present (for wheels that have to be built from source).
    ensure_apt python3-venv
    if ! command -v gcc >/dev/null 2>&1; then
        ensure_apt gcc python3-dev
    fi
    # The local MQTT broker `twinkit serve` supervises (twinkit never runs a home-made one).
    ensure_apt mosquitto
}

ensure_venv() {
    # $1: the extras to install (the demo needs simulation, learning and the dashboard; the
    # tests need all).
    local extras=$1
    local stamp="$VENV/.twinkit-installed-${extras//,/-}"
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python=$(find_python) ||
            die "twinkit needs Python >= 3.11; found none (tried python3.11, python3)"
        log "creating $VENV with $python ($("$python" --version 2>&1))"
        "$python" -m venv "$VENV"
        rm -f "$VENV"/.twinkit-installed*
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        log "installing twinkit[$extras] into $VENV"
        # Show one line per package and pip's summary; errors go to stderr unfiltered. With
        # pipefail, a failing pip fails the pipeline.
        if ! "$VENV/bin/python" -m pip install --progress-bar off -e ".[$extras]" |
            { grep --line-buffered -E '^(Collecting|Successfully)' || true; }; then
            die "installing twinkit into $VENV failed (see pip's errors above)"
        fi
        touch "$stamp"
    fi
}

setup() {
    ensure_system
    ensure_venv "$1"
}

cmd_demo() {
    setup sim,ml,ui
    log "running the demo: the pump-station twin (Ctrl-C stops it)"
    exec "$VENV/bin/twinkit" demo pumps "$@"
}

cmd_test() {
    setup dev,all
    # The fault tests also run against NATS's MQTT listener, a second, unrelated broker;
    # CalculiX is the outside reference the FEA is checked against.
    ensure_apt nats-server
    ensure_apt calculix-ccx
    # The dashboard's browser tests drive Debian's Chromium with Playwright (which never
    # downloads a browser of its own).
    ensure_apt chromium
    local bin="$VENV/bin"
    log "ruff format --check"
    "$bin/ruff" format --check src tests bench
    log "ruff check"
    "$bin/ruff" check src tests bench
    log "mypy"
    "$bin/mypy" src
    log "pytest"
    "$bin/pytest" -n auto "$@"
}

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case "$cmd" in
    demo) cmd_demo "$@" ;;
    test) cmd_test "$@" ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
