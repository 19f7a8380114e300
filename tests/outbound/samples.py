"""Provider answer samples (tests/data/outbound/<provider>/, see SOURCES.md there)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent.parent / "data" / "outbound"


def sample(provider: str, name: str) -> bytes:
    return (DATA / provider / name).read_bytes()
