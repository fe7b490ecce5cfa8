"""Connection limits of ``api/server.py`` on a real uvicorn server, over raw sockets: a slow
client gets 408 and loses its connection, an oversize header block gets 431, and ordinary
requests on a kept-alive connection are untouched."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.servers import serving

TIMEOUT_S = 0.5  # the server's header deadline in this test (the default is 10 s)
MAX_HEADER_BYTES = 4096


@pytest.fixture(scope="module")
def server(demo_copy) -> Iterator[tuple[str, int]]:
    env = {
        "GRIDMAP_HEADER_TIMEOUT_S": str(TIMEOUT_S),
        "GRIDMAP_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
    }
    with demo_copy() as url, serving(url, env=env) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def read_all(sock: socket.socket, limit_s: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or ``limit_s`` passes)."""
    sock.settimeout(limit_s)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_that_dribbles_its_headers_gets_408_and_is_closed(server) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer


def test_a_connection_that_sends_nothing_is_closed(server) -> None:
    with socket.create_connection(server) as sock:
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_oversize_headers_get_431(server) -> None:
    big = b"X-Filler: " + b"a" * MAX_HEADER_BYTES + b"\r\n"
    with socket.create_connection(server) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert str(MAX_HEADER_BYTES).encode() in answer


def test_an_oversize_request_target_gets_431(server) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"GET /livez?" + b"a" * (2 * MAX_HEADER_BYTES) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer


def test_kept_alive_requests_within_the_limits_are_answered(server) -> None:
    request = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"b" * 1000 + b"\r\n\r\n"
    with socket.create_connection(server) as sock:
        sock.settimeout(10)
        for _ in range(3):  # each request restarts the deadline and the byte count
            sock.sendall(request)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):  # /livez's whole body
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
