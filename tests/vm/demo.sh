#!/bin/sh
# make demo: the crash-loop scenario, narrated boot by boot.
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/crashloop.py" --demo "$@"
