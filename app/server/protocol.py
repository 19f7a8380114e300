"""uvicorn's httptools protocol with request-head limits and read timeouts.

uvicorn's `HttpToolsProtocol` buffers a request head of any size (httptools joins a
header's pieces until the next one starts, uvicorn keeps the URL and the header list)
and never times a client out while it is still sending: 40 MB of headers were
accepted, and a client sending one byte every few seconds held its connection for
ever (slowloris). This subclass bounds both before the ASGI app sees the request and
otherwise leaves uvicorn's behaviour (keep-alive, pipelining, upgrades, 400s) alone.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import ClassVar

import httptools
import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = structlog.get_logger(__name__)
# After answering a rejection, read and drop input this long before closing (below).
LINGER_SECONDS = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    max_header_bytes: int = 32 * 1024  # the request head as received: line + headers
    max_headers: int = 100
    max_line_bytes: int = 8 * 1024  # the URL, or one header's name + value
    header_timeout: float = 10.0  # seconds to send a complete request head
    body_timeout: float = 30.0  # seconds a started request body may stall
    problem_base_url: str = ""  # problem `type` is f"{base}/problems/{slug}"


@dataclass(frozen=True, slots=True)
class _Rejection:
    status: int  # 408, 414 or 431
    reason: str  # the log line's `reason`
    detail: str  # says which limit, never what the client sent


_TITLES = {
    408: ("Request timeout", "request-timeout"),
    414: ("URI too long", "uri-too-long"),
    431: ("Request header fields too large", "request-header-fields-too-large"),
}


class _Stop(Exception):
    """Raised from a parser callback to stop httptools mid-feed (see `_rejection`)."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection; `limits` is set per server by `bind`."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    _unframed: int  # bytes fed since the parser last reported progress
    _has_progressed: bool
    _in_head: bool  # a request line began and its headers are not complete yet
    _in_body: bool  # headers complete, message not complete
    _rejection: _Rejection | None
    _is_lingering: bool  # answered a rejection; input is dropped until we close
    _head_timer: TimerHandle | None
    _body_timer: TimerHandle | None
    _linger_timer: TimerHandle | None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn
        super().connection_made(transport)
        self._unframed, self._has_progressed = 0, False
        self._in_head = self._in_body = self._is_lingering = False
        self._rejection = None
        self._head_timer = self._body_timer = self._linger_timer = None
        # A client that connects and sends nothing is on the head clock too: uvicorn
        # arms its keep-alive timer only after a first response.
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser at most `max_header_bytes + 1` bytes at a time.

        Bytes that yield no parser progress (headers complete, body, chunk, message
        complete) are a request head, chunk framing or trailers, which httptools and
        uvicorn buffer; more than `max_header_bytes` of them in a row is rejected.
        Feeding in slices bounds what is buffered before we can look, even for one
        header sent without end (httptools reports a header only once it is whole).
        """
        if self._is_lingering:
            return
        self._unset_keepalive_if_required()
        rest, budget = memoryview(data), self.limits.max_header_bytes
        while rest and not self.transport.is_closing():
            size = budget - self._unframed + 1
            piece, rest = rest[:size], rest[size:]
            self._has_progressed = False
            if not self._feed(piece):
                return
            self._unframed = 0 if self._has_progressed else self._unframed + len(piece)
            if self._unframed > budget:
                self._reject(self._too_large())
                return
        self._watch()

    def _feed(self, piece: memoryview) -> bool:
        """uvicorn's `data_received` for one piece; False when the rest must not be fed."""
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserError:
            if self._rejection is not None:
                self._reject(self._rejection)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            # As uvicorn does: bytes after an upgrade request in the same read are dropped.
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    # Parser callbacks: uvicorn's, with the counts checked first.

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)  # httptools may report the URL in pieces
        if len(self.url) > self.limits.max_line_bytes:
            detail = f"the URL exceeds {self.limits.max_line_bytes} bytes"
            self._stop(_Rejection(414, "url_too_long", detail))

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.limits.max_headers:
            detail = f"more than {self.limits.max_headers} request headers"
            self._stop(_Rejection(431, "too_many_headers", detail))
        if len(name) + len(value) > self.limits.max_line_bytes:
            detail = f"a header line exceeds {self.limits.max_line_bytes} bytes"
            self._stop(_Rejection(431, "header_line_too_long", detail))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body, self._has_progressed = False, True, True
        self._cancel(self._head_timer)
        self._head_timer = None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._has_progressed = True
        super().on_body(body)

    def on_chunk_header(self) -> None:
        self._has_progressed = True

    def on_message_complete(self) -> None:
        self._in_body, self._has_progressed = False, True
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    # Timers and rejections.

    def _watch(self) -> None:
        """After each read: restart the body idle timer, or start the head clock."""
        if self.transport.is_closing():
            return
        if self._in_body and self._is_busy():
            self._cancel(self._body_timer)
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout, self._on_body_timeout
            )
        elif self._in_head or not self._is_busy():
            # A head has begun, or bytes came while we owe nothing (blank lines, or a
            # body still trickling after its response): the next head must be
            # complete within the timeout, which runs from the first such read.
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._on_head_timeout
            )

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._is_busy():
            # A pipelined head waits while we answer the request before it (uvicorn
            # pauses reading); the client is not the slow one, so wait again.
            self._arm_head_timer()
            return
        detail = f"request headers not received within {self.limits.header_timeout:g} s"
        self._reject(_Rejection(408, "header_timeout", detail))

    def _on_body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._in_body or not self._is_busy():
            return  # done, or answered already: the head clock governs (`_watch`)
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # We are not reading (the app has not asked for the body yet): not a stall.
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout, self._on_body_timeout
            )
            return
        # The app is waiting in receive(); closing makes uvicorn hand it a disconnect.
        self._log(_Rejection(408, "body_timeout", ""), is_answered=False)
        self.transport.close()

    def _is_busy(self) -> bool:
        """A response is owed or being written on this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def _too_large(self) -> _Rejection:
        limit = self.limits.max_header_bytes
        if self._in_body:  # chunk framing or trailers that never end
            detail = f"chunk framing or trailers exceed {limit} bytes"
            return _Rejection(431, "trailers_too_large", detail)
        return _Rejection(
            431, "headers_too_large", f"request headers exceed {limit} bytes"
        )

    def _stop(self, rejection: _Rejection) -> None:
        self._rejection = rejection
        raise _Stop(rejection.reason)

    def _reject(self, rejection: _Rejection) -> None:
        """One log line; a problem document with `Connection: close` when we may answer."""
        # While a response is (or was) under way on this connection, just close.
        is_answered = not self._is_busy() and not self._in_body
        self._log(rejection, is_answered=is_answered)
        if is_answered:
            self.transport.write(self._problem(rejection))
        if is_answered and self.transport.can_write_eof():
            # Closing with input still unread makes the kernel answer RST, which can
            # destroy our answer before the client reads it (it is likely still
            # sending its oversized head): half-close, drop input a moment, close.
            self.transport.write_eof()
            self._cancel_timers()
            self._is_lingering = True
            self._linger_timer = self.loop.call_later(
                LINGER_SECONDS, self.transport.close
            )
        else:
            self.transport.close()

    def _log(self, rejection: _Rejection, *, is_answered: bool) -> None:
        log.warning(
            "http.rejected",
            reason=rejection.reason,
            status=rejection.status,
            answered=is_answered,
            peer=self.client[0] if self.client else None,
        )

    def _problem(self, rejection: _Rejection) -> bytes:
        """RFC 9457 document, rendered here: the ASGI app never saw this request."""
        title, slug = _TITLES[rejection.status]
        body = json.dumps(
            {
                "type": f"{self.limits.problem_base_url}/problems/{slug}",
                "title": title,
                "status": rejection.status,
                "detail": rejection.detail,
            }
        ).encode()
        head = [STATUS_LINE[rejection.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/problem+json\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        return b"".join([*head, body])

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._linger_timer):
            self._cancel(timer)
        self._head_timer = self._body_timer = self._linger_timer = None

    @staticmethod
    def _cancel(timer: TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def bind(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, which instantiates it itself."""

    class Bound(LimitedHttpToolsProtocol):
        pass

    Bound.limits = limits
    return Bound
