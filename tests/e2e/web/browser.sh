#!/bin/sh
# Installs selenium from PyPI into a virtualenv beside the build (once), then runs the
# browser driver (browser.py) on Debian's headless chromium and chromedriver.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="${CARGO_TARGET_DIR:-$here/../../../target}/web-venv"
if ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet 'selenium==4.51.0' >&2
fi
exec "$venv/bin/python" "$here/browser.py" "$@"
