"""The active routing rules: read the file (I/O here), compile (pure), swap atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from routing.model import RuleSet
from routing.rules import RulesError, load_rules

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ActiveRules:
    rules: RuleSet
    source: str  # the file's text, shown by GET /v1/routing/rules
    path: Path


class RulesHolder:
    """Holds the current rules; a bad file leaves the previous rules in force."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.active = self._read()

    @property
    def rules(self) -> RuleSet:
        return self.active.rules

    def reload(self) -> ActiveRules:
        """Re-read the file; raises RulesError (or OSError) and keeps the old rules."""
        try:
            new = self._read()
        except (RulesError, OSError) as error:
            log.warning("rules.rejected", path=str(self._path), error=str(error))
            raise
        self.active = new  # one reference assignment: atomic for every reader
        log.info(
            "rules.loaded",
            path=str(self._path),
            version=new.rules.version,
            rules=len(new.rules.rules),
        )
        return new

    def _read(self) -> ActiveRules:
        source = self._path.read_bytes()
        return ActiveRules(
            load_rules(source), source.decode("utf-8", "replace"), self._path
        )
