# syntax=docker/dockerfile:1.7
# Production image: dependencies layer first (cached), then the source.
FROM python:3.11-slim AS base

COPY --from=ghcr.io/astral-sh/uv:0.5 /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH" \
    OMNIROUTE_LOG_FORMAT=json \
    OMNIROUTE_ATTACHMENT_DIR=/data/attachments

WORKDIR /app

RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-install-project --no-dev

COPY pyproject.toml uv.lock README.md LICENSE alembic.ini ./
COPY app ./app
COPY connectors ./connectors
COPY routing ./routing
COPY outbound ./outbound
COPY devtools ./devtools
COPY migrations ./migrations

RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --home-dir /app omniroute \
    && mkdir -p /data/attachments && chown -R omniroute /data
USER omniroute
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

# Migrations run as a separate step: `docker run IMAGE omniroute migrate`.
CMD ["omniroute", "serve", "--host", "0.0.0.0"]
