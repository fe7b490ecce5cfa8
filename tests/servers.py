"""Real uvicorn servers for tests that need concurrent clients or a browser.

The TestClient runs one request at a time in-process; races between staff, retried reports
and a headless browser need the app behind a socket. The benchmarks start their servers with
these helpers too (both run from a checkout); tests never import the benchmarks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP_S = 60.0  # loading and warming the lookup index takes seconds on a shared machine


def free_port() -> int:
    """An unused loopback TCP port (the OS picks it, so parallel runs do not collide)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database_url: str, port: int, env: dict[str, str] | None = None, workers: int = 1
) -> subprocess.Popen[bytes]:
    """``workers`` uvicorn processes (default one) running the real app on ``database_url``,
    returned once /health answers; the server's stderr is raised if it dies while starting."""
    env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--http",
            "api.server:GuardedProtocol",  # as `gridmap serve` runs it
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(
                    server.stderr.read().decode() if server.stderr else "server died"
                ) from None
            # Another process starting up: nothing in this process can make it go faster.
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server did not start in {STARTUP_S:.0f} s")


@contextmanager
def serving(database_url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A server on ``database_url`` for the ``with`` block: yields its base URL, then stops it.
    It signs tokens with the tests' secret (``tests.identities.bearer`` mints for it) and, like
    ``app_client``, lets people's accounts far past the default rate."""
    from tests import identities

    port = free_port()
    process = start_server(
        database_url,
        port,
        env={
            "GRIDMAP_JWT_SECRET": identities.SECRET,
            "GRIDMAP_ACCOUNT_PER_MINUTE": "1000000",
            **(env or {}),
        },
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
