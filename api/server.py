"""The HTTP/1.1 connection limits uvicorn lacks, so gridmap needs no proxy in front of it.

uvicorn's httptools protocol reads a request's headers for as long as the client keeps
sending them and without a size cap, so one slow client ("slowloris") or one huge header holds
a connection and memory indefinitely. :class:`GuardedProtocol` is that protocol with two
limits, checked as the parser calls back (no extra pass over the bytes):

- the request line and headers must arrive within ``GRIDMAP_HEADER_TIMEOUT_S`` (default
  10 s) of the request's first byte, else ``408 Request Timeout`` and the connection closes;
- they may not exceed ``GRIDMAP_MAX_HEADER_BYTES`` (default 32 KiB), else
  ``431 Request Header Fields Too Large``.

Bodies are limited by the app (``MAX_BODY_BYTES``), idle keep-alive connections by uvicorn's
``timeout_keep_alive``. Served with ``uvicorn --http api.server:GuardedProtocol`` (``gridmap
serve`` does it).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gridmap.settings import Settings


@functools.cache
def _limits() -> tuple[float, int]:
    """(header timeout in s, header byte cap), read once per process from the settings."""
    settings = Settings()
    return settings.header_timeout_s, settings.max_header_bytes


class _HeadersTooLargeError(Exception):
    """Raised from a parser callback to stop reading an oversize header block."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a header size cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout_s, self._max_bytes = _limits()
        self._header_bytes = 0
        self._too_large = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline: a connection that never sends a byte is closed too."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self._refuse(408, "Request Timeout", "request headers took too long")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        body = message.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason.encode("ascii"), len(body), body)
        )
        self.transport.close()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_bytes:
            self._too_large = True
            raise _HeadersTooLargeError

    # Parser callbacks (httptools calls them while feed_data parses).
    def on_message_begin(self) -> None:
        """A request starts: count its header bytes from zero, and time it."""
        super().on_message_begin()
        self._header_bytes = 0
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_url(self, url: bytes) -> None:
        """Count the request target (it may come in pieces)."""
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count one header line."""
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Headers are in, in time: stop the deadline."""
        self._disarm()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        """Feed the parser, unless the connection is being refused."""
        if self._too_large:
            return  # the 431 is on its way and the connection closing
        try:
            super().data_received(data)
        except _HeadersTooLargeError:  # in case httptools re-raises the callback's error as is
            self._refuse_too_large()

    def send_400_response(self, msg: str) -> None:
        """Answer a parser error; an oversize header block gets 431, not 400.

        httptools wraps a callback's exception as a parser error, which uvicorn answers with 400.
        """
        if self._too_large:
            self._refuse_too_large()
        else:
            super().send_400_response(msg)

    def _refuse_too_large(self) -> None:
        if not self.transport.is_closing():
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"request line and headers exceed {self._max_bytes} bytes",
            )
