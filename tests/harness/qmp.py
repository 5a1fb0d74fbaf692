#!/usr/bin/env python3
"""qmp.py - send QMP commands to a QEMU monitor on a unix socket and print the answers (one JSON line each).

usage: qmp.py SOCK STEP [STEP]...
  STEP is a QMP command, optionally followed by its arguments as one JSON object, or one of:
  --wait-migration [SECONDS]     poll query-migrate (every 0.1 s, at most SECONDS, default 120) until the
                                 status is completed, failed or cancelled; print the last answer; the run
                                 ends with status 0 for completed, 1 otherwise, 124 on timeout
  --wait-transferred BYTES [SECONDS]  poll query-migrate until the migration is active and has sent at
                                 least BYTES of RAM; print that answer and go on (e.g. with migrate_cancel);
                                 status 1 if it ended first, 124 on timeout (default 120 s)
  --wait-remaining BYTES [SECONDS]  the same, until the migration is active and at most BYTES of RAM are
                                 left to send (query-migrate ram.remaining; polled every 0.01 s)
Steps run in order on one connection (after qmp_capabilities), so a step follows the one before it without
delay. A command's "return" value is printed as one line of JSON; an "error" answer goes to stderr and ends
the run with status 1. Asynchronous events are skipped. Standard library only.
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:  # the monitor socket appears a moment after QEMU starts
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"not a QMP greeting: {greeting}")
        self.call("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QEMU closed the monitor")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            ans = self._read()
            if "event" in ans:
                continue
            if "error" in ans:
                raise RuntimeError(f"{cmd}: {ans['error'].get('class')}: {ans['error'].get('desc')}")
            return ans.get("return")


def wait_migration(q, limit, want_bytes=None, left_bytes=None):
    """Poll query-migrate; return (status, answer).  With want_bytes (or left_bytes): until the migration is
    active and has sent at least want_bytes (has at most left_bytes left to send)."""
    deadline = time.monotonic() + limit
    waiting = want_bytes is not None or left_bytes is not None
    while True:
        st = q.call("query-migrate")
        status = st.get("status")
        ram = st.get("ram", {})
        if status == "active" and ram.get("transferred", 0) > 0:
            if want_bytes is not None and ram.get("transferred", 0) >= want_bytes:
                return 0, st
            if left_bytes is not None and ram.get("remaining", left_bytes + 1) <= left_bytes:
                return 0, st
        if status in ("completed", "failed", "cancelled"):
            return (0 if status == "completed" and not waiting else 1), st
        if time.monotonic() > deadline:
            return 124, st
        time.sleep(0.01 if left_bytes is not None else 0.1)


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) > 1 else 2
    try:
        q = Qmp(argv[1])
        rest = argv[2:]
        while rest:
            step, rest = rest[0], rest[1:]
            nums = []
            while rest and rest[0].replace(".", "", 1).isdigit():
                nums.append(float(rest[0]))
                rest = rest[1:]
            if step == "--wait-migration":
                rc, st = wait_migration(q, nums[0] if nums else 120.0)
                print(json.dumps(st), flush=True)
                return rc
            if step in ("--wait-transferred", "--wait-remaining"):
                limit, n = nums[1] if len(nums) > 1 else 120.0, int(nums[0])
                if step == "--wait-transferred":
                    rc, st = wait_migration(q, limit, want_bytes=n)
                else:
                    rc, st = wait_migration(q, limit, left_bytes=n)
                print(json.dumps(st), flush=True)
                if rc:
                    return rc
                continue
            args = None
            if rest and rest[0].startswith("{"):
                args, rest = json.loads(rest[0]), rest[1:]
            print(json.dumps(q.call(step, args)), flush=True)
        return 0
    except (OSError, RuntimeError, ValueError, IndexError) as e:
        print(f"qmp.py: {e}", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main(sys.argv))
