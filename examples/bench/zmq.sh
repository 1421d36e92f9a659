#!/bin/sh
# Installs pyzmq from PyPI into a virtualenv beside the build (once), then runs the ZeroMQ
# reference benchmark: zmq.sh CALLS IN_FLIGHT ITEMS. Prints one JSON line per row.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="${CARGO_TARGET_DIR:-$here/../../target}/bench-venv"
if ! "$venv/bin/python" -c 'import zmq' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet 'pyzmq==27.3.0' >&2
fi
exec "$venv/bin/python" "$here/zmq_bench.py" "$@"
