"""`omniroute serve | dev | migrate | demo | events tail`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from app import cli
from devtools.mock_kafka import MockKafkaCluster, MockKafkaError

# This is the console script of every install, the image without the dev extra
# included: at import time it loads only app.cli and the standard library (mock_kafka
# is ctypes); pgserver and confluent-kafka's librdkafka are reached inside `dev`, which
# exits 2 with an install hint when they are missing (tests/devtools/test_cli.py).

DEV_SECRETS = {
    "OMNIROUTE_API_TOKENS": "dev-token",
    "OMNIROUTE_TWILIO_AUTH_TOKEN": "dev-twilio-auth-token",
    "OMNIROUTE_META_APP_SECRET": "dev-meta-app-secret",
    "OMNIROUTE_META_VERIFY_TOKEN": "dev-meta-verify-token",
    "OMNIROUTE_MAILGUN_SIGNING_KEY": "dev-mailgun-signing-key",
    "OMNIROUTE_EMAIL_WEBHOOK_SECRET": "dev-email-webhook-secret",
    "OMNIROUTE_CHAT_WEBHOOK_SECRET": "dev-chat-webhook-secret",
    "OMNIROUTE_TELEGRAM_SECRET_TOKEN": "dev-telegram-secret-token",
}


def dev(args: argparse.Namespace) -> None:
    """The service with an embedded PostgreSQL (pgserver) under ./var when none is set."""
    from app.migrate import upgrade

    if not os.environ.get("OMNIROUTE_DATABASE_URL"):
        os.environ["OMNIROUTE_DATABASE_URL"] = _embedded_postgres(Path("var/pgdata"))
    if not os.environ.get("OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS"):
        # librdkafka's mock cluster: the real Kafka protocol over TCP, in memory.
        cluster = _embedded_kafka()
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
    settings = cli.load_settings()
    upgrade(settings.async_database_url())
    print(f"omniroute dev: API docs at http://{args.host}:{args.port}/docs")
    print(f"omniroute dev: database {settings.async_database_url()!r}")
    print(
        f"omniroute dev: bearer token {os.environ['OMNIROUTE_API_TOKENS'].split(',')[0]}"
        " (dev secrets: see `omniroute dev --help`)"
    )
    cli.run_server(settings, args.host, args.port)


def _embedded_postgres(pgdata: Path) -> str:
    try:
        import pgserver
    except ImportError as error:
        _need_dev_extra(f"the embedded PostgreSQL needs pgserver ({error})")
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata.resolve(), cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri


def _embedded_kafka() -> MockKafkaCluster:
    try:
        return MockKafkaCluster(1)
    except MockKafkaError as error:
        _need_dev_extra(f"the embedded Kafka broker needs confluent-kafka ({error})")


def _need_dev_extra(reason: str) -> NoReturn:
    print(
        f"omniroute dev: {reason}; install omniroute[dev]"
        " (pip install 'omniroute[dev]'), or set OMNIROUTE_DATABASE_URL and"
        " OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS",
        file=sys.stderr,
    )
    raise SystemExit(2)


def demo(args: argparse.Namespace) -> None:
    from devtools.demo import run

    for name, value in DEV_SECRETS.items():
        os.environ.setdefault(name, value)
    asyncio.run(run(args.url, os.environ))


def events_tail(args: argparse.Namespace) -> None:
    from devtools.events_tail import tail

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
        os.environ.get("OMNIROUTE_KAFKA_MESSAGE_TOPIC", "omniroute.messages"),
        os.environ.get("OMNIROUTE_KAFKA_ASSIGNMENT_TOPIC", "omniroute.assignments"),
        os.environ.get("OMNIROUTE_KAFKA_AGENT_TOPIC", "omniroute.agents"),
        os.environ.get("OMNIROUTE_KAFKA_SLA_TOPIC", "omniroute.sla"),
    ]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail(servers, topics, args.from_beginning, sys.stdout))


def _parser() -> argparse.ArgumentParser:
    parser, commands = cli.new_parser(__doc__)
    cli.add_serve(commands)
    cli.add_server_command(
        commands,
        "dev",
        dev,
        "run with an embedded PostgreSQL and dev secrets: "
        + ", ".join(f"{k}={v}" for k, v in DEV_SECRETS.items()),
    )
    cli.add_migrate(commands)
    events = commands.add_parser("events", help="operate on published events")
    tail_parser = events.add_subparsers(
        dest="events_command", required=True
    ).add_parser("tail", help="consume and pretty-print events")
    tail_parser.add_argument(
        "--topic", action="append", help="repeatable; default: every omniroute topic"
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
    """The `omniroute` console script: the runtime commands plus the dev ones."""
    args = _parser().parse_args(argv)
    args.handler(args)
