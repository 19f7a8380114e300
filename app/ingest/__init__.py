"""Inbound messages in: the unit of work that stitches, places, decides and records."""

from app.ingest.unit import (
    Ingestor,
    IngestPolicy,
    IngestResult,
    Outcome,
    ReplayRejected,
    Routing,
    effective_sent_at,
    normalize,
)

__all__ = [
    "IngestPolicy",
    "IngestResult",
    "Ingestor",
    "Outcome",
    "ReplayRejected",
    "Routing",
    "effective_sent_at",
    "normalize",
]
