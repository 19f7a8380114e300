"""`omniroute serve | dev | migrate | demo | events tail`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from app.settings import Settings

DEV_SECRETS = {
    "OMNIROUTE_API_TOKENS": "dev-token",
    "OMNIROUTE_TWILIO_AUTH_TOKEN": "dev-twilio-auth-token",
    "OMNIROUTE_META_APP_SECRET": "dev-meta-app-secret",
    "OMNIROUTE_META_VERIFY_TOKEN": "dev-meta-verify-token",
    "OMNIROUTE_MAILGUN_SIGNING_KEY": "dev-mailgun-signing-key",
    "OMNIROUTE_EMAIL_WEBHOOK_SECRET": "dev-email-webhook-secret",
    "OMNIROUTE_CHAT_WEBHOOK_SECRET": "dev-chat-webhook-secret",
}


def _load_settings() -> Settings:
    """Settings from the environment, or exit 2 naming every missing/invalid variable."""
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            name = "OMNIROUTE_" + str(problem["loc"][0]).upper()
            print(f"omniroute: {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app import logs
    from app.main import create_app

    logs.configure(settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        access_log=False,  # the middleware's `http.request` is the one access line
    )


def serve(args: argparse.Namespace) -> None:
    settings = _load_settings()
    if not settings.kafka_bootstrap_servers:
        print(
            "omniroute: OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS: required by `serve` (routing"
            " decisions are published to Kafka); `omniroute dev` embeds a broker",
            file=sys.stderr,
        )
        raise SystemExit(2)
    _serve(settings, args.host, args.port)


def migrate(_: argparse.Namespace) -> None:
    from app.migrate import upgrade

    settings = _load_settings()
    upgrade(settings.async_database_url())
    print("omniroute: database is at the latest migration")


def dev(args: argparse.Namespace) -> None:
    """The service with an embedded PostgreSQL (pgserver) under ./var when none is set."""
    from app.migrate import upgrade

    if not os.environ.get("OMNIROUTE_DATABASE_URL"):
        os.environ["OMNIROUTE_DATABASE_URL"] = _embedded_postgres(Path("var/pgdata"))
    if not os.environ.get("OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS"):
        from app.mock_kafka import MockKafkaCluster

        # librdkafka's mock cluster: the real Kafka protocol over TCP, in memory.
        cluster = MockKafkaCluster(1)
        os.environ["OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS"] = cluster.bootstrap_servers
        print(
            f"omniroute dev: embedded Kafka broker at {cluster.bootstrap_servers}"
            " (in memory; `omniroute events tail` with this address)"
        )
    for name, value in DEV_SECRETS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault(
        "OMNIROUTE_PUBLIC_BASE_URL", f"http://{args.host}:{args.port}"
    )
    settings = _load_settings()
    upgrade(settings.async_database_url())
    print(f"omniroute dev: API docs at http://{args.host}:{args.port}/docs")
    print(f"omniroute dev: database {settings.async_database_url()!r}")
    print(
        f"omniroute dev: bearer token {os.environ['OMNIROUTE_API_TOKENS'].split(',')[0]}"
        " (dev secrets: see `omniroute dev --help`)"
    )
    _serve(settings, args.host, args.port)


def _embedded_postgres(pgdata: Path) -> str:
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata.resolve(), cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri


def demo(args: argparse.Namespace) -> None:
    from app.demo import run

    for name, value in DEV_SECRETS.items():
        os.environ.setdefault(name, value)
    asyncio.run(run(args.url, os.environ))


def events_tail(args: argparse.Namespace) -> None:
    from app.events_tail import tail

    servers = args.bootstrap_servers or os.environ.get(
        "OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS"
    )
    if not servers:
        print(
            "omniroute: give --bootstrap-servers or OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS",
            file=sys.stderr,
        )
        raise SystemExit(2)
    topics = args.topic or [
        os.environ.get("OMNIROUTE_KAFKA_ROUTING_TOPIC", "omniroute.routing.decisions"),
        os.environ.get("OMNIROUTE_KAFKA_CUSTOMER_TOPIC", "omniroute.customers"),
    ]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail(servers, topics, args.from_beginning, sys.stdout))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omniroute", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("serve", serve, "run the production server"),
        (
            "dev",
            dev,
            "run with an embedded PostgreSQL and dev secrets: "
            + ", ".join(f"{k}={v}" for k, v in DEV_SECRETS.items()),
        ),
    ):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        sub.set_defaults(handler=handler)
    commands.add_parser("migrate", help="alembic upgrade head").set_defaults(
        handler=migrate
    )
    events = commands.add_parser("events", help="operate on published events")
    tail_parser = events.add_subparsers(
        dest="events_command", required=True
    ).add_parser("tail", help="consume and pretty-print events")
    tail_parser.add_argument(
        "--topic", action="append", help="repeatable; default: both omniroute topics"
    )
    tail_parser.add_argument("--from-beginning", action="store_true")
    tail_parser.add_argument("--bootstrap-servers")
    tail_parser.set_defaults(handler=events_tail)
    sub = commands.add_parser(
        "demo", help="replay signed sample webhooks, print timelines"
    )
    sub.add_argument("--url", default="http://127.0.0.1:8000")
    sub.set_defaults(handler=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    args.handler(args)
