#!/bin/sh
# Runs the browser driver (browser.py) on Debian's headless chromium and chromedriver, with
# selenium from PyPI.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../contrib/python/run.sh" web 'selenium==4.51.0' selenium "$here/browser.py" "$@"
