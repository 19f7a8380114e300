"""Assignment (issue 9): message committed -> offer on the chosen agent's SSE stream at
a fixed rate of new conversations, and the drain of a backlog of waiting conversations
when agents come online; each against a bare equivalent in the same run.

(a) Offer latency. `omniroute serve` (one uvicorn worker, the scheduler inside and
leading, as in production) on a fresh, migrated database, with a rules file whose
`queues:` block configures `support` (most_available, offers that do not time out
during the run, `away_on_timeout: false`). 200 agents are created and set available
over the API (`PUT /v1/agents/{id}`, `PUT /v1/agents/{id}/status`), each with chat
capacity 50, and each holds an open `GET /v1/agents/{id}/events` stream
(text/event-stream), all 200 read by one asyncio client in this process (raw HTTP/1.1
over asyncio streams, chunked decoding, SSE parsing; no per-event httpx cost). An
open-loop generator posts signed chat webhooks (`/webhooks/chat`), each from a new
visitor, so each creates a customer and a conversation routed to `support`: message i
is due at t0 + i/rate, a warm-up, then the measured window. "Committed" is when the
webhook's 200 arrived at the client (the service answers after its transaction
commits); "delivered" is when the client read the `offer` event, whichever of the
200 streams it came on. Offers are matched to webhooks after the run through
`messages.provider_message_id -> conversation_id` (the offer's `conversation_id`).
Offers are left pending (no client answers them), so they count against capacity:
200 x 50 is far more than the run creates.

Bare (a): `python -m bench.assignment --port N --dsn ...`, FastAPI + uvicorn (one
worker) + asyncpg + the same sse-starlette response: POST /webhooks/chat parses the
JSON and runs one statement (INSERT the event row + pg_notify with the event as
payload) for the next agent round robin; one LISTEN connection fans the payloads out
to the agents' open streams, which write them as `offer` events. No signature, no
customer, no conversation, no choice, no re-read: the floor of commit -> NOTIFY ->
SSE. The same client and schedule drive it.

(b) Drain. A fresh database with 500 agents created over the API (offline, chat
capacity 25 each: 12,500 >= 10,000) and 10,000 waiting conversations in `support`
written with COPY (a customer each; conversations open, `assignment = 'waiting'`,
channel chat, waiting_since spread over the last 10 s), because ingesting 10,000 new
conversations over the API would take most of the time budget and the scheduler reads
only conversations and customers. Then, timed: the 500 agents are set available over
the API (16 requests at a time, as desktops logging in) until every conversation is
offered or assigned (polled every 20 ms on a separate connection). Offers, not
auto_accept, by default: offers are the default flow (`auto_accept: false`) and each
one also writes the offer row and the agent's `offer` event. Two extra rounds are
reported separately: `offers_sql_agents` sets all 500 available with one SQL UPDATE +
pg_notify (the scheduler alone, without the API's status path), and `auto_accept`
uses queue `auto` (`auto_accept: true`). Between rounds every
conversation is put back in line with SQL, offers, agent events and the assignment
log are deleted, agents set offline, VACUUM ANALYZE. Bare (b): in this process, one
asyncpg connection loops `UPDATE conversations ... FROM (SELECT ... WHERE assignment =
'waiting' ... ORDER BY waiting_since, id LIMIT 2000 FOR UPDATE SKIP LOCKED)` giving
the rows round robin to the 500 agents, until none waits; on the same table, after
the same reset. After every service drain the capacity invariant is checked in SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from bench import ingest, procs
from bench.dispatch import _run_on_loop
from bench.ingest_requests import rendered
from bench.latency import Percentiles, RawHttp
from devtools.payloads import chat_message

AUTH = {"Authorization": f"Bearer {ingest.API_TOKEN}"}
TOPICS = (
    "omniroute.routing.decisions",
    "omniroute.customers",
    "omniroute.messages",
    "omniroute.assignments",
    "omniroute.agents",
)
RULES = """\
# bench/assignment.py: every new conversation goes to `support`.
rules: []
default:
  queue: support
queues:
  support:
    policy: most_available
    offer_timeout_seconds: 3600  # no offer times out during the run
    away_on_timeout: false
  auto:
    policy: most_available
    auto_accept: true
"""
BARE_CHANNEL = "bench_bare_agent_events"
BARE_CREATE = (
    "CREATE TABLE IF NOT EXISTS bare_agent_events (seq bigint GENERATED ALWAYS AS"
    " IDENTITY PRIMARY KEY, agent_id text NOT NULL, conversation_id text NOT NULL,"
    " data text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)
BARE_INSERT = (
    "WITH e AS (INSERT INTO bare_agent_events (agent_id, conversation_id, data)"
    " VALUES ($1, $2, $3) RETURNING agent_id, data)"
    f" SELECT pg_notify('{BARE_CHANNEL}', e.agent_id || ' ' || e.data) FROM e"
)
BARE_BATCH = 2000  # the scheduler's batch (app/assignment/assign.py BATCH)
BARE_DRAIN = (
    "WITH w AS (SELECT id FROM conversations WHERE assignment = 'waiting'"
    " AND status = 'open' ORDER BY waiting_since, id LIMIT $1 FOR UPDATE SKIP LOCKED),"
    " n AS (SELECT id, row_number() OVER () AS k FROM w)"
    " UPDATE conversations c SET assignment = 'offered',"
    " holder_agent_id = ($2::text[])[1 + (($3::bigint + n.k) % $4::bigint)::int]"
    " FROM n WHERE c.id = n.id"
)
HELD = (
    "SELECT count(*) FROM conversations WHERE status = 'open'"
    " AND assignment IN ('offered', 'assigned')"
)
POLL_SECONDS = 0.02
# The scheduler's view of N agents logging in at once, without the API's status path.
AGENTS_AVAILABLE_SQL = (
    "WITH u AS (UPDATE agents SET status = 'available', status_changed_at = now(),"
    " offline_since = NULL RETURNING id) SELECT pg_notify('omniroute_assign', '')"
)
WINDOW_SECONDS = 5.0  # (a): percentiles per window of the measured period


def agent_ids(n: int) -> list[str]:
    return [f"agent-{i:04d}" for i in range(n)]


@dataclass(frozen=True)
class AssignmentBenchConfig:
    agents: int = 200  # (a): each with an open SSE stream
    capacity: int = 50  # (a): chat capacity per agent
    rate: float = 100.0  # (a): new conversations per second
    seconds: float = 25.0  # (a): measured
    warmup: float = 5.0  # (a): same rate, not counted
    settle_timeout: float = 15.0  # (a): wait for the last offers
    max_connections: int = 64  # (a): webhook keep-alive connections
    drain_conversations: int = 10_000  # (b)
    drain_agents: int = 500  # (b)
    drain_capacity: int = 25  # (b): chat capacity per agent
    drain_rounds: int = 2  # (b): service (offers) / bare pairs
    drain_auto_accept: bool = True  # (b): one extra service round with auto_accept
    status_concurrency: int = 16  # (b): status PUTs in flight
    drain_timeout: float = 90.0  # (b): per round


@dataclass(frozen=True)
class Invariants:
    """Violation counts of the capacity and single-holder checks (0 everywhere = ok)."""

    checks: dict[str, int]
    held: int  # open conversations offered or assigned
    pending_offers: int

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())


@dataclass
class OfferLatency:
    side: str  # service | bare
    agents: int = 0
    streams_open: int = 0
    streams_lost: int = 0  # closed by the server before the client closed them
    scheduled: int = 0  # measured webhooks
    ok: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    achieved_rate: float = 0.0  # measured 2xx per second of the measured schedule
    offer_rate: float = 0.0  # measured offers delivered per second, first to last
    matched: int = 0  # measured 2xx whose offer arrived
    missing: int = 0
    unmapped: int = 0  # 2xx without a conversation (service: no message row)
    duplicates: int = 0  # extra offer events for a conversation
    unknown: int = 0  # offers for nothing this run sent
    kinds: dict[str, int] = field(default_factory=dict)  # SSE event kinds read
    to_offer: Percentiles | None = None  # offer read - webhook answered
    from_due: Percentiles | None = None  # offer read - due
    webhook: Percentiles | None = None  # webhook answered - due
    lag: Percentiles | None = None  # generator: task start - due
    server_cpu_ms: float = 0.0  # per measured conversation
    loop_cpu_ms: float = 0.0  # client loop, per measured conversation
    agents_per_offer: float = 0.0  # distinct agents offered / measured offers
    # (seconds into the measured window, p50, p99, n) of answered -> offer, per window
    windows: list[tuple[float, float, float, int]] = field(default_factory=list)
    invariants: Invariants | None = None


@dataclass
class DrainRun:
    side: str  # offers | auto_accept | bare
    round: int
    conversations: int
    placed: int
    seconds: float  # first status request -> all placed
    agents_seconds: float | None = None  # the status requests, first to last answer
    placed_at_agents_done: int | None = None
    server_cpu_seconds: float | None = None
    pg_cpu_seconds: float | None = None
    loop_cpu_seconds: float = 0.0
    offer_events: int | None = None  # agent_events 'offer' / 'assigned' rows
    status_errors: int = 0
    invariants: Invariants | None = None

    @property
    def rate(self) -> float:
        return self.placed / self.seconds if self.seconds else 0.0

    @property
    def tail_rate(self) -> float | None:
        """Placed per second after the last agent was available."""
        if self.agents_seconds is None or self.placed_at_agents_done is None:
            return None
        left = self.placed - self.placed_at_agents_done
        rest = self.seconds - self.agents_seconds
        return left / rest if rest > 0 and left > 0 else None


@dataclass
class AssignmentReport:
    config: AssignmentBenchConfig
    latency: list[OfferLatency] = field(default_factory=list)
    drains: list[DrainRun] = field(default_factory=list)
    scheduler_leading: dict[str, bool] = field(default_factory=dict)
    seed_seconds: float = 0.0
    log_statuses: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def side(self, name: str) -> OfferLatency | None:
        return next((r for r in self.latency if r.side == name), None)

    def drain_median(self, side: str) -> float:
        runs = [r.rate for r in self.drains if r.side == side]
        return float(statistics.median(runs)) if runs else 0.0


# ------------------------------------------------------------------ processes


def _rules_file() -> Path:
    path = procs.OUT / "assignment-rules.yaml"
    path.write_text(RULES)
    return path


def start_service(name: str, database: str, kafka: str) -> procs.Server:
    port = procs.free_port()
    env = ingest.service_env(database, port, kafka)
    env["OMNIROUTE_ROUTING_RULES_FILE"] = str(_rules_file())
    return procs.start_server(
        name,
        [
            str(ingest.BIN / "omniroute"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
        port,
        "/healthz",
    )


def start_bare(name: str, database: str, agents: int) -> procs.Server:
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.assignment", "--port", str(port)]
    argv += ["--dsn", procs.dsn(database), "--agents", str(agents)]
    return procs.start_server(name, argv, procs.base_env(), port, "/healthz")


# ---------------------------------------------------------------- the bare app


def create_bare_app(dsn: str, agents: int, pool_size: int = 10) -> FastAPI:
    """FastAPI: POST /webhooks/chat -> one INSERT + NOTIFY; GET /v1/agents/{id}/events
    streams what the LISTEN connection hears for that agent."""
    ids = agent_ids(agents)
    turn = itertools.count()
    streams: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        agent, _, data = payload.partition(" ")
        for queue in streams.get(agent, ()):
            queue.put_nowait(data)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        async with pool.acquire() as conn:
            await conn.execute(BARE_CREATE)
        listen = await asyncpg.connect(dsn)
        await listen.add_listener(BARE_CHANNEL, on_notify)
        app.state.pool = pool
        yield
        await listen.close()
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/chat")
    async def chat(request: Request) -> JSONResponse:
        doc = json.loads(await request.body())
        message_id = str(doc["message_id"])
        agent = ids[next(turn) % len(ids)]
        data = json.dumps({"conversation_id": message_id})
        await request.app.state.pool.execute(BARE_INSERT, agent, message_id, data)
        return JSONResponse({"status": "accepted"})

    @app.get("/v1/agents/{agent_id}/events")
    async def events(agent_id: str) -> EventSourceResponse:
        queue: asyncio.Queue[str] = asyncio.Queue()
        streams[agent_id].add(queue)

        async def feed() -> AsyncIterator[ServerSentEvent]:
            try:
                while True:
                    yield ServerSentEvent(data=await queue.get(), event="offer")
            finally:
                streams[agent_id].discard(queue)

        return EventSourceResponse(feed(), ping=15)

    return app


def serve_bare(argv: list[str] | None = None) -> None:
    """`python -m bench.assignment --port N --dsn ... --agents 200`."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.assignment")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_bare_app(args.dsn, args.agents),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


# ------------------------------------------------------------- the SSE client


class SseStream:
    """One GET .../events over a raw asyncio connection: chunked decoding and SSE
    parsing; each event goes to `sink` as (monotonic time read, agent, kind, data)."""

    def __init__(
        self,
        agent_id: str,
        request: bytes,
        sink: list[tuple[float, str, str, str]],
    ) -> None:
        self.agent_id = agent_id
        self._request = request
        self._sink = sink
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._chunked = False
        self._closing = False
        self.lost = False

    async def open(self, host: str, port: int) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        self._writer.write(self._request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        status = int(head[9:12])
        if status != 200 or b"text/event-stream" not in lower:
            raise RuntimeError(f"{self.agent_id}: {head[:200]!r}")
        self._chunked = b"transfer-encoding: chunked" in lower

    async def read(self) -> None:
        reader = self._reader
        assert reader is not None
        buffer = b""
        try:
            while True:
                if self._chunked:
                    line = await reader.readuntil(b"\r\n")
                    size = int(line.split(b";", 1)[0], 16)
                    if size == 0:
                        break
                    data = (await reader.readexactly(size + 2))[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        break
                at = time.monotonic()
                buffer += data
                while True:
                    end, width = _event_end(buffer)
                    if end < 0:
                        break
                    block, buffer = buffer[:end], buffer[end + width :]
                    kind, payload = _parse_event(block)
                    if payload is not None:
                        self._sink.append((at, self.agent_id, kind, payload))
        except (asyncio.IncompleteReadError, OSError, ValueError):
            pass
        if not self._closing:
            self.lost = True

    def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._writer.close()


def _event_end(buffer: bytes) -> tuple[int, int]:
    """Where the first complete event ends (blank line) and the separator's width."""
    crlf, lf = buffer.find(b"\r\n\r\n"), buffer.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    return (lf, 2) if lf >= 0 else (-1, 0)


def _parse_event(block: bytes) -> tuple[str, str | None]:
    kind, data = "message", []
    for raw in block.replace(b"\r\n", b"\n").split(b"\n"):
        line = raw.decode()
        if not line or line.startswith(":"):
            continue  # comments: sse-starlette's pings
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
    return kind, "\n".join(data) if data else None


async def open_streams(
    host: str, port: int, ids: list[str], sink: list[tuple[float, str, str, str]]
) -> tuple[list[SseStream], list[asyncio.Task[None]]]:
    streams = []
    for agent in ids:
        request = (
            f"GET /v1/agents/{agent}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: {AUTH['Authorization']}\r\nAccept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n\r\n"
        ).encode()
        streams.append(SseStream(agent, request, sink))
    sem = asyncio.Semaphore(16)

    async def opened(stream: SseStream) -> None:
        async with sem:
            await stream.open(host, port)

    await asyncio.gather(*(opened(s) for s in streams))
    tasks = [asyncio.create_task(s.read()) for s in streams]
    return streams, tasks


# --------------------------------------------------------------- (a) latency


@dataclass
class _Sent:
    due: float
    measured: bool
    message_id: str
    started: float = float("nan")
    done: float = float("nan")
    status: int = -1  # -1: never finished; 0: connection error


def _chat_requests(side: str, n: int, host: str) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        message_id = f"bench-{side}-{i}-{uuid.uuid4().hex[:8]}"
        request = chat_message(
            ingest.SECRETS.chat,
            f"bench-visitor-{side}-{i}",
            f"Hello, I need some help with my order number {i}, please.",
            message_id=message_id,
            name=f"Visitor {i}",
            locale="en-US",
        )
        out.append((message_id, rendered(request, host)))
    return out


async def _put_agents(
    client: httpx.AsyncClient,
    ids: list[str],
    capacity: int,
    status: str | None,
    concurrency: int = 16,
) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(agent: str) -> None:
        async with sem:
            body = {
                "name": agent.replace("-", " ").title(),
                "queues": ["support", "auto"],
                "skills": [],
                "capacity": {"chat": capacity},
            }
            r = await client.put(f"/v1/agents/{agent}", json=body, headers=AUTH)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"PUT agent {agent}: {r.status_code} {r.text}")
            if status is not None:
                r = await client.put(
                    f"/v1/agents/{agent}/status",
                    json={"status": status},
                    headers=AUTH,
                )
                if r.status_code != 200:
                    raise RuntimeError(f"status {agent}: {r.status_code} {r.text}")

    await asyncio.gather(*(one(a) for a in ids))


async def _offer_latency(
    side: str,
    server: procs.Server,
    database: str,
    config: AssignmentBenchConfig,
) -> OfferLatency:
    result = OfferLatency(side, agents=config.agents)
    ids = agent_ids(config.agents)
    if side == "service":
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            await _put_agents(client, ids, config.capacity, "available")
    host = f"127.0.0.1:{server.port}"
    warm_n = round(config.rate * config.warmup)
    total = warm_n + round(config.rate * config.seconds)
    requests = _chat_requests(side, total, host)
    sink: list[tuple[float, str, str, str]] = []
    streams, readers = await open_streams("127.0.0.1", server.port, ids, sink)
    result.streams_open = len(streams)
    print(
        f"[assignment] {side}: {len(streams)} SSE streams open; {config.rate:.0f}"
        f" new conversations/s: {config.warmup:.0f}s warm-up + {config.seconds:.0f}s"
    )
    http = RawHttp("127.0.0.1", server.port, config.max_connections)
    sent = [_Sent(0.0, i >= warm_n, mid) for i, (mid, _) in enumerate(requests)]
    errors: Counter[str] = Counter()

    async def fire(item: _Sent, raw: bytes) -> None:
        item.started = time.monotonic()
        try:
            item.status, _ = await http.post(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            item.status = 0
            errors[type(error).__name__] += 1
        item.done = time.monotonic()

    tasks: list[asyncio.Task[None]] = []
    cpu_server = cpu_loop = 0.0
    t0 = time.monotonic() + 0.2
    try:
        for i, (item, (_, raw)) in enumerate(zip(sent, requests, strict=True)):
            item.due = t0 + i / config.rate
            if i == warm_n:
                cpu_server, cpu_loop = server.cpu_seconds(), time.thread_time()
            delay = item.due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(item, raw)))
        await asyncio.wait(tasks, timeout=60)
        answered = sum(1 for s in sent if 200 <= s.status < 300)
        deadline = time.monotonic() + config.settle_timeout
        while time.monotonic() < deadline:
            if sum(1 for e in sink if e[2] == "offer") >= answered:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # late duplicates, if any
        measured = [s for s in sent if s.measured]
        result.server_cpu_ms = (
            1000 * (server.cpu_seconds() - cpu_server) / max(len(measured), 1)
        )
        result.loop_cpu_ms = (
            1000 * (time.thread_time() - cpu_loop) / max(len(measured), 1)
        )
    finally:
        http.close()
        for stream in streams:
            stream.close()
        await asyncio.gather(*readers, return_exceptions=True)
    result.streams_lost = sum(1 for s in streams if s.lost)
    if side == "service":
        conn = await asyncpg.connect(procs.dsn(database))
        try:
            rows = await conn.fetch(
                "SELECT provider_message_id, conversation_id::text FROM messages"
            )
            result.invariants = await check_invariants(conn)
        finally:
            await conn.close()
        key_of: dict[str, str] = {r[0]: r[1] for r in rows}
    else:
        key_of = {s.message_id: s.message_id for s in sent}
    _match(result, sent, sink, key_of, errors, config)
    return result


def _match(
    result: OfferLatency,
    sent: list[_Sent],
    sink: list[tuple[float, str, str, str]],
    key_of: dict[str, str],
    errors: Counter[str],
    config: AssignmentBenchConfig,
) -> None:
    result.kinds = dict(Counter(kind for _, _, kind, _ in sink))
    offered: dict[str, tuple[float, str]] = {}
    duplicates = 0
    for at, agent, kind, data in sink:
        if kind != "offer":
            continue
        conversation = str(json.loads(data)["conversation_id"])
        if conversation in offered:
            duplicates += 1
        else:
            offered[conversation] = (at, agent)
    known = {key_of.get(s.message_id) for s in sent}
    result.duplicates = duplicates
    result.unknown = sum(1 for c in offered if c not in known)
    measured = [s for s in sent if s.measured]
    ok = [s for s in measured if 200 <= s.status < 300]
    result.scheduled = len(measured)
    result.ok = len(ok)
    result.statuses = dict(Counter(s.status for s in measured))
    result.errors = dict(errors)
    span = measured[-1].due - measured[0].due + 1 / config.rate if measured else 0
    result.achieved_rate = len(ok) / span if span else 0.0
    ms = 1000.0
    to_offer, from_due, arrivals, agents = [], [], [], set()
    start = measured[0].due if measured else 0.0
    by_window: defaultdict[int, list[float]] = defaultdict(list)
    for s in ok:
        key = key_of.get(s.message_id)
        if key is None:
            result.unmapped += 1
            continue
        found = offered.get(key)
        if found is None:
            result.missing += 1
            continue
        at, agent = found
        to_offer.append((at - s.done) * ms)
        by_window[int((s.due - start) // WINDOW_SECONDS)].append((at - s.done) * ms)
        from_due.append((at - s.due) * ms)
        arrivals.append(at)
        agents.add(agent)
    result.matched = len(to_offer)
    if len(arrivals) > 1:
        result.offer_rate = (len(arrivals) - 1) / (max(arrivals) - min(arrivals))
    result.agents_per_offer = len(agents) / max(len(arrivals), 1)
    result.to_offer = Percentiles.of(to_offer)
    for w, values in sorted(by_window.items()):
        q = Percentiles.of(values)
        result.windows.append((w * WINDOW_SECONDS, q.p50, q.p99, q.count))
    result.from_due = Percentiles.of(from_due)
    result.webhook = Percentiles.of([(s.done - s.due) * ms for s in ok])
    result.lag = Percentiles.of([(s.started - s.due) * ms for s in measured])
    p = result.to_offer
    print(
        f"[assignment] {result.side}: {result.ok:,} of {result.scheduled:,} measured"
        f" 2xx at {result.achieved_rate:.1f}/s; offers matched {result.matched:,},"
        f" missing {result.missing}, duplicates {duplicates}; answered -> offer p50"
        f" {p.p50:.1f} ms p99 {p.p99:.1f} ms max {p.max:.1f} ms; generator lag p99"
        f" {result.lag.p99:.1f} ms"
    )


# ----------------------------------------------------------------- invariants


_INVARIANTS = {
    # Per agent and channel: assigned open conversations + pending offers <= capacity.
    "agent over capacity (assigned + pending offers)": (
        "WITH assigned AS (SELECT holder_agent_id AS agent, channel, count(*) AS n"
        " FROM conversations WHERE status = 'open' AND assignment = 'assigned'"
        " GROUP BY 1, 2), pending AS (SELECT agent_id AS agent, channel,"
        " count(*) AS n FROM offers WHERE status = 'pending' GROUP BY 1, 2),"
        " load AS (SELECT coalesce(a.agent, p.agent) AS agent,"
        " coalesce(a.channel, p.channel) AS channel,"
        " coalesce(a.n, 0) + coalesce(p.n, 0) AS n FROM assigned a FULL JOIN pending p"
        " ON a.agent = p.agent AND a.channel = p.channel)"
        " SELECT count(*) FROM load l LEFT JOIN agents g ON g.id = l.agent"
        " WHERE g.id IS NULL OR l.n > coalesce((g.capacity ->> l.channel)::int, 0)"
    ),
    # The load the scheduler counts: open conversations held (offered or assigned).
    "agent over capacity (held conversations)": (
        "SELECT count(*) FROM (SELECT holder_agent_id, channel, count(*) AS n"
        " FROM conversations WHERE status = 'open' AND holder_agent_id IS NOT NULL"
        " GROUP BY 1, 2) h LEFT JOIN agents g ON g.id = h.holder_agent_id"
        " WHERE g.id IS NULL OR h.n > coalesce((g.capacity ->> h.channel)::int, 0)"
    ),
    "conversation with 2+ pending offers": (
        "SELECT count(*) FROM (SELECT conversation_id FROM offers"
        " WHERE status = 'pending' GROUP BY 1 HAVING count(*) > 1) x"
    ),
    "offered conversation without its holder's pending offer": (
        "SELECT count(*) FROM conversations c WHERE c.assignment = 'offered'"
        " AND c.status = 'open' AND NOT EXISTS (SELECT 1 FROM offers o"
        " WHERE o.conversation_id = c.id AND o.status = 'pending'"
        " AND o.agent_id = c.holder_agent_id)"
    ),
    "pending offer to someone other than the holder": (
        "SELECT count(*) FROM offers o JOIN conversations c ON c.id = o.conversation_id"
        " WHERE o.status = 'pending' AND NOT (c.status = 'open'"
        " AND c.assignment = 'offered' AND c.holder_agent_id = o.agent_id)"
    ),
    "held conversation without a holder": (
        "SELECT count(*) FROM conversations WHERE status = 'open'"
        " AND assignment IN ('offered', 'assigned') AND holder_agent_id IS NULL"
    ),
    "conversation offered/assigned to 2+ agents (agent events)": (
        "SELECT count(*) FROM (SELECT conversation_id FROM agent_events"
        " WHERE kind IN ('offer', 'assigned') GROUP BY 1"
        " HAVING count(DISTINCT agent_id) > 1) x"
    ),
}


INVARIANT_CHECKS = tuple(_INVARIANTS)


async def check_invariants(conn: asyncpg.Connection) -> Invariants:
    checks = {name: int(await conn.fetchval(sql)) for name, sql in _INVARIANTS.items()}
    held = int(await conn.fetchval(HELD))
    pending = int(
        await conn.fetchval("SELECT count(*) FROM offers WHERE status = 'pending'")
    )
    return Invariants(checks, held, pending)


# ------------------------------------------------------------------ (b) drain


async def _seed_waiting(
    conn: asyncpg.Connection, n: int, queue: str = "support"
) -> None:
    now = datetime.now(UTC)
    customers = [uuid.uuid4() for _ in range(n)]
    await conn.copy_records_to_table(
        "customers",
        columns=["id", "display_name", "created_at"],
        records=((c, f"Waiting {i}", now) for i, c in enumerate(customers)),
    )
    await conn.copy_records_to_table(
        "conversations",
        columns=[
            "id",
            "customer_id",
            "status",
            "channels",
            "opened_at",
            "last_message_at",
            "message_count",
            "queue",
            "priority",
            "assignment",
            "waiting_since",
            "channel",
        ],
        records=(
            (
                uuid.uuid4(),
                c,
                "open",
                ["chat"],
                at,
                at,
                1,
                queue,
                "normal",
                "waiting",
                at,
                "chat",
            )
            for i, c in enumerate(customers)
            for at in (now - timedelta(milliseconds=n - i),)
        ),
    )
    await conn.execute("VACUUM (ANALYZE) customers, conversations")


async def _reset(conn: asyncpg.Connection, queue: str) -> None:
    """Everything back in line, in `queue`; agents offline as created; no offers."""
    await conn.execute(
        "UPDATE agents SET status = 'offline', status_changed_at = now(),"
        " offline_since = NULL, last_assigned_at = NULL"
    )
    await asyncio.sleep(0.5)  # a scheduler pass that read them available ends
    await conn.execute("DELETE FROM offers")
    await conn.execute("DELETE FROM agent_events")
    await conn.execute("DELETE FROM assignment_log")
    await conn.execute(
        "UPDATE conversations SET assignment = 'waiting', holder_agent_id = NULL,"
        " assigned_at = NULL, queue = $1 WHERE status = 'open'",
        queue,
    )
    await conn.execute("UPDATE customers SET last_agent_id = NULL")
    await conn.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")
    await conn.execute(
        "VACUUM (ANALYZE) agents, offers, agent_events, assignment_log, conversations,"
        " customers, outbox"
    )


async def _outbox_drained(conn: asyncpg.Connection, limit: float) -> int:
    deadline = time.monotonic() + limit
    while True:
        left = int(
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
        )
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


async def _backends_cpu(conn: asyncpg.Connection) -> dict[int, int]:
    """CPU ticks so far of this database's other backends, by pid."""
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return {int(pid): procs._cpu_ticks(int(pid)) for (pid,) in pids}


def _ticks_used(before: dict[int, int], after: dict[int, int]) -> float:
    used = sum(t - before.get(pid, 0) for pid, t in after.items())
    return used / os.sysconf("SC_CLK_TCK")


async def _drain_service(
    server: procs.Server,
    conn: asyncpg.Connection,
    ids: list[str],
    config: AssignmentBenchConfig,
    side: str,
    round_no: int,
    *,
    by_sql: bool = False,
) -> DrainRun:
    """Set the agents available (over the API, or all at once by SQL) and time until
    every conversation is offered or assigned."""
    n = config.drain_conversations
    waiting = int(
        await conn.fetchval(
            "SELECT count(*) FROM conversations WHERE assignment = 'waiting'"
        )
    )
    if waiting != n:
        raise RuntimeError(f"drain: {waiting} waiting before the round, not {n}")
    errors = 0
    sem = asyncio.Semaphore(config.status_concurrency)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:

        async def available(agent: str) -> None:
            nonlocal errors
            async with sem:
                r = await client.put(
                    f"/v1/agents/{agent}/status",
                    json={"status": "available"},
                    headers=AUTH,
                )
                if r.status_code != 200:
                    errors += 1

        pg_before = await _backends_cpu(conn)
        cpu_before, loop_before = server.cpu_seconds(), time.thread_time()
        t0 = time.monotonic()
        statuses: asyncio.Future[list[None]]
        if by_sql:
            await conn.execute(AGENTS_AVAILABLE_SQL)
            t0 = time.monotonic()  # committed: the scheduler is notified now
            statuses = asyncio.gather()
        else:
            statuses = asyncio.gather(*(available(a) for a in ids))
        agents_done: float | None = None
        placed_then: int | None = None
        placed = 0
        while True:
            placed = int(await conn.fetchval(HELD))
            now = time.monotonic()
            if agents_done is None and statuses.done():
                agents_done, placed_then = now - t0, placed
            if placed >= n or now - t0 > config.drain_timeout:
                break
            await asyncio.sleep(POLL_SECONDS)
        seconds = time.monotonic() - t0
        await statuses
        if agents_done is None:
            agents_done, placed_then = seconds, placed
        cpu = server.cpu_seconds() - cpu_before
        loop_cpu = time.thread_time() - loop_before
        pg = _ticks_used(pg_before, await _backends_cpu(conn))
    kind = "assigned" if side.startswith("auto_accept") else "offer"
    events = int(
        await conn.fetchval("SELECT count(*) FROM agent_events WHERE kind = $1", kind)
    )
    run = DrainRun(
        side=side,
        round=round_no,
        conversations=n,
        placed=placed,
        seconds=seconds,
        agents_seconds=agents_done,
        placed_at_agents_done=placed_then,
        server_cpu_seconds=cpu,
        pg_cpu_seconds=pg,
        loop_cpu_seconds=loop_cpu,
        offer_events=events,
        status_errors=errors,
        invariants=await check_invariants(conn),
    )
    _drain_line(run)
    return run


async def _drain_bare(database: str, ids: list[str], n: int, round_no: int) -> DrainRun:
    drainer = await asyncpg.connect(procs.dsn(database))
    try:
        pid = int(await drainer.fetchval("SELECT pg_backend_pid()"))
        pg_before = procs._cpu_ticks(pid)
        loop_before = time.thread_time()
        t0 = time.monotonic()
        placed = 0
        while True:
            status = await drainer.execute(
                BARE_DRAIN, BARE_BATCH, ids, placed, len(ids)
            )
            done = int(status.split()[-1])
            placed += done
            if done == 0:
                break
        seconds = time.monotonic() - t0
        loop_cpu = time.thread_time() - loop_before
        pg = (procs._cpu_ticks(pid) - pg_before) / os.sysconf("SC_CLK_TCK")
    finally:
        await drainer.close()
    run = DrainRun(
        side="bare",
        round=round_no,
        conversations=n,
        placed=placed,
        seconds=seconds,
        pg_cpu_seconds=pg,
        loop_cpu_seconds=loop_cpu,
    )
    _drain_line(run)
    return run


def _drain_line(r: DrainRun) -> None:
    ok = "-" if r.invariants is None else ("PASS" if r.invariants.ok else "FAIL")
    agents = (
        "" if r.agents_seconds is None else f", agents up in {r.agents_seconds:.2f}s"
    )
    print(
        f"[assignment] drain {r.side} #{r.round}: {r.placed:,} of {r.conversations:,}"
        f" in {r.seconds:.2f}s = {r.rate:,.0f}/s{agents}; invariants {ok}"
    )


async def _drain(
    server: procs.Server,
    database: str,
    config: AssignmentBenchConfig,
    report: AssignmentReport,
) -> None:
    ids = agent_ids(config.drain_agents)
    n = config.drain_conversations
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        await _put_agents(client, ids, config.drain_capacity, None)
    conn = await asyncpg.connect(procs.dsn(database))
    try:
        started = time.monotonic()
        await _seed_waiting(conn, n)
        report.seed_seconds = time.monotonic() - started
        print(
            f"[assignment] drain: {len(ids)} agents (offline), {n:,} waiting"
            f" conversations seeded with COPY in {report.seed_seconds:.1f}s"
        )
        plan = []
        for i in range(1, config.drain_rounds + 1):
            plan += [("offers", i, "support"), ("bare", i, "support")]
        plan.append(("offers_sql_agents", 1, "support"))
        if config.drain_auto_accept:
            plan.append(("auto_accept", 1, "auto"))
        for side, i, queue in plan:
            await _reset(conn, queue)
            if side == "bare":
                run = await _drain_bare(database, ids, n, i)
            else:
                run = await _drain_service(
                    server,
                    conn,
                    ids,
                    config,
                    side,
                    i,
                    by_sql=side.endswith("sql_agents"),
                )
            report.drains.append(run)
            left = await _outbox_drained(conn, 30.0)
            if left:
                report.problems.append(f"drain {side} #{i}: {left} outbox rows left")
    finally:
        await conn.close()


# ------------------------------------------------------------------- the run


def run(
    stamp: str, config: AssignmentBenchConfig, databases: list[str]
) -> AssignmentReport:
    report = AssignmentReport(config)
    db_latency = f"omniroute_bench_{stamp}_assign_latency"
    db_bare = f"omniroute_bench_{stamp}_assign_bare"
    db_drain = f"omniroute_bench_{stamp}_assign_drain"
    for name in (db_latency, db_bare, db_drain):
        databases.append(name)
        procs.create_database(name)
    ingest.migrate(db_latency)
    ingest.migrate(db_drain)
    logs: list[Path] = []
    with ingest.kafka_cluster(topics=TOPICS) as cluster:
        # (a) service
        service = start_service("assign-latency", db_latency, cluster.bootstrap_servers)
        logs.append(service.log_path)
        try:
            report.scheduler_leading["latency"] = procs.wait_scheduler_leading(
                db_latency
            )
            report.latency.append(
                _run_on_loop(_offer_latency("service", service, db_latency, config))
            )
        finally:
            service.stop()
        # (a) bare
        bare = start_bare("assign-bare", db_bare, config.agents)
        try:
            report.latency.append(
                _run_on_loop(_offer_latency("bare", bare, db_bare, config))
            )
        finally:
            bare.stop()
        # (b) drain, service and bare on one database
        service = start_service("assign-drain", db_drain, cluster.bootstrap_servers)
        logs.append(service.log_path)
        try:
            report.scheduler_leading["drain"] = procs.wait_scheduler_leading(db_drain)
            _run_on_loop(_drain(service, db_drain, config, report))
        finally:
            service.stop()
    statuses: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for path in logs:
        s, e, problems = ingest.scan_log(path)
        statuses.update(s)
        events.update(e)
        report.problems += [f"{path.name}: {p}" for p in problems[:3]]
    report.log_statuses, report.events = dict(statuses), dict(events)
    for r in report.latency:
        if r.invariants is not None and not r.invariants.ok:
            report.problems.append(f"latency {r.side}: invariants {r.invariants}")
    for d in report.drains:
        if d.side != "bare" and d.invariants is not None and not d.invariants.ok:
            report.problems.append(f"drain {d.side} #{d.round}: {d.invariants}")
    return report


if __name__ == "__main__":
    serve_bare()
