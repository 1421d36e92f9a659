#!/bin/sh
# Runs a Python program that needs one package from PyPI, installing it once into a
# virtualenv beside the build:
#     run.sh VENV PACKAGE==VERSION MODULE [python arguments...]
# e.g. `run.sh zmq pyzmq==27.3.0 zmq hwclient.py`. The tests, the examples and the
# benchmarks share it; `.ci/run` runs it first so that the tests find the package there.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="${CARGO_TARGET_DIR:-$here/../../target}/$1-venv"
package=$2
module=$3
shift 3
if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "$package" >&2 || {
        echo "cannot install $package from PyPI into $venv (needs python3-venv and the network to PyPI)" >&2
        exit 1
    }
fi
exec "$venv/bin/python" "$@"
