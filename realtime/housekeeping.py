"""Housekeeping: periodic chores of the outbox relay's actor that need no events.

Today one chore: idempotency keys are kept `idempotency_ttl` (24 hours by
default; a retry within that window gets the first response) and then pruned,
every `interval_s`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.retention import prune_idempotency_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HousekeepingConfig:
    """Picklable factory of the chore, handed to the outbox relay actor."""

    idempotency_ttl: timedelta = timedelta(hours=24)
    interval_s: float = 3600.0

    def __call__(self, engine: AsyncEngine) -> Housekeeping:
        return Housekeeping(self, engine)


class Housekeeping:
    def __init__(self, config: HousekeepingConfig, engine: AsyncEngine) -> None:
        self._config = config
        self._engine = engine

    async def run(self) -> None:
        """Forever: one pass, then wait `interval_s`. A failed pass is logged and retried."""
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("housekeeping failed; the next pass retries")
            await asyncio.sleep(self._config.interval_s)

    async def once(self) -> dict[str, int]:
        pruned = await prune_idempotency_keys(self._engine, older_than=self._config.idempotency_ttl)
        if pruned:
            log.info("pruned %d expired idempotency keys", pruned)
        return {"idempotency_keys": pruned}
