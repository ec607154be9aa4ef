"""A TCP proxy to an S3 server that dies as soon as a request mentions a pattern.

Run as its own process (``python faulty_proxy.py LISTEN_PORT UPSTREAM_PORT [PATTERN...]``):
delta-rs holds the GIL while it waits on the network, so a proxy thread inside the test
process would stall with it. When a client sends bytes containing a pattern, every
connection is cut and the process exits with status 3: new connections are refused, as
if the server had gone away mid-run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading

TRIPPED_EXIT_CODE = 3


def pipe(src: socket.socket, dst: socket.socket, patterns: list[bytes]) -> None:
    try:
        while data := src.recv(65536):
            if any(p in data for p in patterns):
                os._exit(TRIPPED_EXIT_CODE)  # the kernel closes every socket at once
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def main() -> None:
    listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    patterns = [p.encode() for p in sys.argv[3:]]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        for src, dst, inspect in ((client, upstream, True), (upstream, client, False)):
            args = (src, dst, patterns if inspect else [])
            threading.Thread(target=pipe, args=args, daemon=True).start()


if __name__ == "__main__":
    main()
