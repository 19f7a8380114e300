"""`omniroute serve | migrate`: the runtime commands.

The `omniroute` console script is `devtools.cli:main`, which adds the development
commands (`dev`, `demo`, `events tail`) to these; this module never imports them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from pydantic import ValidationError

from app.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], None]


def load_settings() -> Settings:
    """Settings from the environment, or exit 2 naming every missing/invalid variable."""
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            name = "OMNIROUTE_" + str(problem["loc"][0]).upper()
            print(f"omniroute: {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def run_server(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app import logs
    from app.main import create_app
    from app.server import http_protocol

    logs.configure(settings.log_format)
    uvicorn.run(
        create_app(settings, freeze_gc=True),
        host=host,
        port=port,
        http=http_protocol(settings),  # head limits, read timeouts: app/server/
        log_config=None,
        proxy_headers=True,
        server_header=False,
        access_log=False,  # the middleware's `http.request` is the one access line
    )


def serve(args: argparse.Namespace) -> None:
    settings = load_settings()
    if not settings.kafka_bootstrap_servers:
        print(
            "omniroute: OMNIROUTE_KAFKA_BOOTSTRAP_SERVERS: required by `serve` (routing"
            " decisions are published to Kafka); `omniroute dev` embeds a broker",
            file=sys.stderr,
        )
        raise SystemExit(2)
    run_server(settings, args.host, args.port)


def migrate(_: argparse.Namespace) -> None:
    from app.migrate import upgrade

    settings = load_settings()
    upgrade(settings.async_database_url())
    print("omniroute: database is at the latest migration")


def add_server_command(
    commands: Commands, name: str, handler: Handler, help_text: str
) -> None:
    """A command that runs the HTTP server, with `--host` and `--port`."""
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--port", type=int, default=8000)
    sub.set_defaults(handler=handler)


def add_serve(commands: Commands) -> None:
    add_server_command(commands, "serve", serve, "run the production server")


def add_migrate(commands: Commands) -> None:
    commands.add_parser("migrate", help="alembic upgrade head").set_defaults(
        handler=migrate
    )


def new_parser(description: str | None) -> tuple[argparse.ArgumentParser, Commands]:
    parser = argparse.ArgumentParser(prog="omniroute", description=description)
    return parser, parser.add_subparsers(dest="command", required=True)


def main(argv: Sequence[str] | None = None) -> None:
    """The runtime commands alone: what a deployment needs."""
    parser, commands = new_parser("`omniroute serve | migrate`.")
    add_serve(commands)
    add_migrate(commands)
    args = parser.parse_args(argv)
    args.handler(args)
