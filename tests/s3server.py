"""A real S3 API server on loopback for tests: moto's server mode."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_running: dict[int, ThreadedMotoServer] = {}


@contextmanager
def s3_server(port: int | None = None) -> Iterator[str]:
    """Serve the S3 API on 127.0.0.1; yields the endpoint URL."""
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _running[port] = server
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _running.pop(port, server).stop()


def stop_server_on(port: int) -> Callable[[], None]:
    """Take the S3 server on ``port`` down (an outage); call the result to bring it back.
    Objects survive: moto keeps them in this process."""
    _running.pop(port).stop()

    def restart() -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        _running[port] = server

    return restart
