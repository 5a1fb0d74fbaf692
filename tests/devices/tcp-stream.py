#!/usr/bin/python3
"""tcp-stream.py - the host end of e2e-net-tcp.sh's TCP streams (run inside the test's network namespace).

  tcp-stream.py recv ADDR PORT [TIMEOUT]   listen on ADDR:PORT, print "listening", take one connection, read
                                           until EOF, close; print "bytes=N sha256=H seconds=S"
  tcp-stream.py send ADDR PORT MIB [TIMEOUT]
                                           connect to ADDR:PORT (retrying: the guest may not listen yet),
                                           send MIB MiB of random bytes, shut the write side down, wait until
                                           the peer closes (it has read everything); print "bytes=N sha256=H
                                           seconds=S"
seconds: from the connection to the peer's EOF (recv) or to the peer's close (send).  TIMEOUT (default 120 s)
bounds every wait; on any failure it prints "error: ..." and exits 1.  Standard library only.
"""
import hashlib
import os
import socket
import sys
import time


def recv(addr, port, timeout):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(timeout)
    print("listening", flush=True)
    conn, _ = ls.accept()
    ls.close()
    conn.settimeout(timeout)
    t0 = time.monotonic()
    h, n = hashlib.sha256(), 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    secs = time.monotonic() - t0
    conn.close()
    return n, h.hexdigest(), secs


def send(addr, port, mib, timeout):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((addr, port))
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    s.settimeout(timeout)
    data = os.urandom(mib << 20)
    t0 = time.monotonic()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):  # the guest's nc closes once it has read our EOF
        pass
    secs = time.monotonic() - t0
    s.close()
    return len(data), hashlib.sha256(data).hexdigest(), secs


def main(argv):
    try:
        if len(argv) in (4, 5) and argv[1] == "recv":
            r = recv(argv[2], int(argv[3]), float(argv[4]) if len(argv) == 5 else 120.0)
        elif len(argv) in (5, 6) and argv[1] == "send":
            r = send(argv[2], int(argv[3]), int(argv[4]), float(argv[5]) if len(argv) == 6 else 120.0)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, ValueError) as e:
        print("error: %s" % e, flush=True)
        return 1
    print("bytes=%d sha256=%s seconds=%.3f" % r, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
