#!/usr/bin/env python3
"""Writes compile_commands.json (clang's JSON compilation database) to
standard output: argv[1] is the compiler and flags as make expands them,
the rest are the C files, each compiled from the project's root."""
import json
import os
import shlex
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags = shlex.split(sys.argv[1])
print(json.dumps([{"directory": root, "file": f,
                   "arguments": flags + ["-c", "-o", "/dev/null", f]}
                  for f in sys.argv[2:]], indent=1))
