#!/usr/bin/env python3
"""Filter clang-tidy output through tests/analyze/clang-tidy.supp.

    tidy-filter.py TOP SUPPRESSIONS < clang-tidy-output

clang-tidy has no suppression file of its own (only NOLINT comments in the
code), so the reviewed false positives are listed here, each with its
reason. A warning is suppressed when a line matches its check, its file
(a glob, relative to TOP) and a regular expression searched in the
warning's message and in the source line it points at (so entries
survive code moving around). Warnings reported twice (a header seen from
several files) count once.

Prints every remaining warning with its notes, then one summary line;
exits 1 when any remains (or a line of the suppression file is bad).
"""
import fnmatch
import os
import re
import sys

WARN = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?P<col>\d+): "
                  r"(?P<kind>warning|error): (?P<msg>.*?)(?: \[(?P<check>[^\]]+)\])?$")


def load_suppressions(path):
    entries = []
    bad = 0
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            if len(parts) != 4 or not all(parts):
                print(f"{path}:{n}: want CHECK | FILE | REGEX | REASON", file=sys.stderr)
                bad += 1
                continue
            try:
                rx = re.compile(parts[2])
            except re.error as e:
                print(f"{path}:{n}: bad regex: {e}", file=sys.stderr)
                bad += 1
                continue
            entries.append({"check": parts[0], "file": parts[1], "rx": rx,
                            "where": f"{os.path.basename(path)}:{n}", "used": 0})
    return entries, bad


def parse(stream, top):
    """Yields (key, check, file, text, block) for each warning."""
    cur = None
    for raw in stream:
        line = raw.rstrip("\n")
        m = WARN.match(line)
        if m and m.group("kind") in ("warning", "error"):
            if cur:
                yield cur
            path = os.path.relpath(os.path.realpath(m.group("file")), top)
            check = m.group("check") or ("clang-diagnostic-error" if m.group("kind") == "error" else "")
            cur = {"key": (path, m.group("line"), m.group("col"), check),
                   "check": check, "file": path, "msg": m.group("msg"),
                   "src": None, "block": [line]}
        elif cur is not None:
            if cur["src"] is None and not WARN.match(line):
                cur["src"] = line
            cur["block"].append(line)
    if cur:
        yield cur


def main():
    top, supp = os.path.realpath(sys.argv[1]), sys.argv[2]
    entries, bad = load_suppressions(supp)
    seen = set()
    kept = []
    suppressed = 0
    for w in parse(sys.stdin, top):
        if w["key"] in seen:
            continue
        seen.add(w["key"])
        text = w["msg"] + "\n" + (w["src"] or "")
        hit = None
        for e in entries:
            if (fnmatch.fnmatch(w["check"], e["check"]) and fnmatch.fnmatch(w["file"], e["file"])
                    and e["rx"].search(text)):
                hit = e
                break
        if hit:
            hit["used"] += 1
            suppressed += 1
        else:
            kept.append(w)
    for w in kept:
        print("\n".join(w["block"]))
    for e in entries:
        if not e["used"]:
            print(f"clang-tidy: note: {e['where']} matched nothing (stale? remove it)")
    print(f"clang-tidy: {len(kept)} warnings, {suppressed} suppressed by {os.path.basename(supp)}")
    sys.exit(1 if kept or bad else 0)


if __name__ == "__main__":
    main()
