"""Send pacing per provider and sender: at most `rate` messages a second each, so one
limited sender waits alone while the others go on."""

from __future__ import annotations

import asyncio


class Pacer:
    """Spaces acquisitions 1/rate seconds apart (rate 0: no limit)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next_free = 0.0

    async def wait_turn(self) -> None:
        if self._interval == 0.0:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        turn = max(now, self._next_free)
        self._next_free = turn + self._interval
        if turn > now:
            await asyncio.sleep(turn - now)


class Pacers:
    def __init__(self, rates: dict[str, float]) -> None:
        self._rates = rates
        self._pacers: dict[tuple[str, str], Pacer] = {}

    def of(self, provider: str, sender: str | None) -> Pacer:
        key = (provider, sender or "")
        pacer = self._pacers.get(key)
        if pacer is None:
            pacer = self._pacers[key] = Pacer(self._rates.get(provider, 0.0))
        return pacer
