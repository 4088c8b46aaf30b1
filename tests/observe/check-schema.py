#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Validates report documents against docs/report.schema.json.

    check-schema.py [--schema FILE] [--expect-invalid] FILE...

Each FILE holds one report (JSON; "-" reads stdin). Prints "ok FILE" or
"INVALID FILE: PATH: what is wrong" (one line per problem) and exits 1
when any file is invalid (with --expect-invalid: when any is valid, for
the tests that show the schema catches a broken report), 2 on a usage
error or an unreadable schema.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_schema  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser(description="Validate lifeline report documents.")
    ap.add_argument("--schema", default=os.path.join(TOP, "docs", "report.schema.json"))
    ap.add_argument("--expect-invalid", action="store_true",
                    help="succeed only when every FILE is invalid")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args()
    try:
        validator = report_schema.load(args.schema)
    except Exception as e:  # an unusable schema is a usage problem
        print("check-schema: %s: %s" % (args.schema, e), file=sys.stderr)
        return 2
    bad = good = 0
    for name in args.files:
        try:
            if name == "-":
                body = sys.stdin.buffer.read()
            else:
                with open(name, "rb") as f:
                    body = f.read()
        except OSError as e:
            print("INVALID %s: cannot read: %s" % (name, e.strerror))
            bad += 1
            continue
        found = report_schema.check_bytes(validator, body)
        if found:
            bad += 1
            for p in found:
                print("INVALID %s: %s" % (name, p))
        else:
            good += 1
            print("ok %s" % name)
    if args.expect_invalid:
        return 1 if good else 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
