"""Provider APIs played by a real HTTP server on loopback (uvicorn on a thread): it
records every request and answers from a script (status, body, headers, delay, or
hang), and a real SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import uvicorn
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: object = None  # JSON-encoded unless bytes
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    hang: bool = False  # never answer (the client times out)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class ProviderServer:
    """`default(request)` answers when the script is empty."""

    default: Callable[[Recorded], Answer]
    requests: list[Recorded] = field(default_factory=list)
    script: deque[Answer] = field(default_factory=deque)
    base_url: str = ""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        recorded = Recorded(
            scope["method"],
            scope["path"],
            scope["query_string"].decode(),
            {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body,
        )
        self.requests.append(recorded)
        answer = self.script.popleft() if self.script else self.default(recorded)
        if answer.hang:
            await asyncio.sleep(3600)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        payload = (
            answer.body
            if isinstance(answer.body, bytes)
            else json.dumps(answer.body).encode()
        )
        headers = [(b"content-type", b"application/json")] + [
            (k.encode(), v.encode()) for k, v in answer.headers
        ]
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": payload})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serving(app: ProviderServer) -> Iterator[ProviderServer]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "provider server did not start"
        time.sleep(0.01)
    app.base_url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = True
        thread.join(10)


class SmtpInbox:
    """What a real SMTP server on loopback received, parsed with the stdlib."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd hook
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
