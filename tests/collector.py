#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tiny report collector and command server for the tests, on loopback only.

    collector.py --port 0 --dir D [--fail N] [--status CODE] [--serve DIR]
                 [--timeout SECONDS] [--delay SECONDS] [--cert PEM --key PEM]

Prints the port it listens on (one line) and then serves until --timeout
seconds have passed (default 120), or --max-requests were handled: it always
stops by itself, so a test that dies cannot leave it behind for long.

POST  any path: the body is stored as D/NNNN.json (NNNN counts the stored
      bodies from 0001) and answered 200, except that the first --fail N
      POSTs are answered 500 and not stored. --status CODE answers every
      POST with CODE instead (nothing stored unless CODE is 2xx).
GET   /PATH/NAME: the file NAME of --serve DIR (the last path component
      only; no subdirectories, no dot files), else 404, with the
      validators a static web server sends (ETag from the file's mtime and
      size, Last-Modified) and 304 to a conditional GET that still matches
      (If-None-Match first, else If-Modified-Since). --get-status CODE
      answers every GET with CODE instead, with the header
      "Retry-After: --retry-after VALUE" when that is given.
--delay S: every POST is read, then answered only S seconds later (a slow
collector; one that hangs when S is longer than the client's timeout).
Every request is appended to D/requests.log as "METHOD PATH STATUS".
--cert/--key: serve HTTPS with that certificate (the VM tests' collector,
reached by the guest as https://10.0.2.2:PORT, QEMU's alias for the host's
loopback).
--schema FILE (default: the environment's LIFELINE_REPORT_SCHEMA, if set):
every POST body is first checked against that JSON Schema
(docs/report.schema.json); an invalid one is answered 400, not stored, and
logged as "collector: invalid report: PATH: what is wrong" on stderr and in
D/invalid.log, so a test that sends a malformed report fails and says where.
--no-schema turns it off (tests that POST documents that are not reports).
"""
import argparse
import email.utils
import http.server
import os
import sys
import time

MAX_BODY = 4 * 1024 * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--status", type=int, default=0)
    ap.add_argument("--serve", default=None)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--max-requests", type=int, default=10000)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--get-status", type=int, default=0)
    ap.add_argument("--retry-after", default=None)
    ap.add_argument("--cert", default=None)
    ap.add_argument("--key", default=None)
    ap.add_argument("--schema", default=os.environ.get("LIFELINE_REPORT_SCHEMA") or None)
    ap.add_argument("--no-schema", dest="schema", action="store_const", const=None)
    args = ap.parse_args()
    validator = None
    if args.schema:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "observe"))
        try:
            import report_schema
            validator = report_schema.load(args.schema)
        except Exception as e:  # no jsonschema, or a bad schema: say so, serve nothing
            print("collector: cannot use --schema %s: %s" % (args.schema, e), file=sys.stderr)
            return 2
    os.makedirs(args.dir, exist_ok=True)
    state = {"posts": 0, "stored": 0, "requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the test reads requests.log
            pass

        def _log(self, status):
            with open(os.path.join(args.dir, "requests.log"), "a") as f:
                f.write("%s %s %d\n" % (self.command, self.path, status))

        def _answer(self, status, body=b"", headers=()):
            # logged before the answer leaves: a test that reads
            # requests.log once its request returned must find the line
            self._log(status)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_POST(self):
            state["requests"] += 1
            n = int(self.headers.get("Content-Length") or 0)
            if n < 0 or n > MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(n)
            if validator is not None:
                found = report_schema.check_bytes(validator, body)
                if found:
                    with open(os.path.join(args.dir, "invalid.log"), "a") as f:
                        for p in found:
                            line = "collector: invalid report: %s" % p
                            print(line, file=sys.stderr, flush=True)
                            f.write(line + "\n")
                    self._answer(400, ("".join(p + "\n" for p in found)).encode())
                    return
            if args.delay > 0:
                time.sleep(args.delay)
            state["posts"] += 1
            if state["posts"] <= args.fail:
                self._answer(500, b"try later\n")
                return
            status = args.status or 200
            if 200 <= status <= 299:
                state["stored"] += 1
                path = os.path.join(args.dir, "%04d.json" % state["stored"])
                with open(path + ".tmp", "wb") as f:
                    f.write(body)
                os.rename(path + ".tmp", path)
            self._answer(status)

        def do_GET(self):
            state["requests"] += 1
            if args.get_status:
                hdrs = [("Retry-After", args.retry_after)] if args.retry_after else []
                self._answer(args.get_status, b"busy\n", hdrs)
                return
            name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
            if args.serve and name and not name.startswith("."):
                p = os.path.join(args.serve, name)
                if os.path.isfile(p):
                    st = os.stat(p)
                    etag = '"%x-%x"' % (st.st_mtime_ns, st.st_size)
                    mtime = int(st.st_mtime)
                    hdrs = [("ETag", etag),
                            ("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]
                    inm = self.headers.get("If-None-Match")
                    ims = self.headers.get("If-Modified-Since")
                    if inm is not None:
                        fresh = etag in [t.strip() for t in inm.split(",")]
                    elif ims is not None:
                        try:
                            t = email.utils.parsedate_to_datetime(ims).timestamp()
                            fresh = mtime <= t
                        except (TypeError, ValueError):
                            fresh = False
                    else:
                        fresh = False
                    if fresh:
                        self._answer(304, b"", hdrs)
                        return
                    with open(p, "rb") as f:
                        self._answer(200, f.read(), hdrs)
                    return
            self._answer(404)

    srv = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    if args.cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.timeout = 0.2
    print(srv.server_address[1], flush=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and state["requests"] < args.max_requests:
        srv.handle_request()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
