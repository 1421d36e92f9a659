#!/bin/sh
# Runs the ZeroMQ reference benchmark with pyzmq from PyPI: zmq.sh CALLS IN_FLIGHT ITEMS.
# Prints one JSON line per row.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../contrib/python/run.sh" zmq 'pyzmq==27.3.0' zmq "$here/zmq_bench.py" "$@"
