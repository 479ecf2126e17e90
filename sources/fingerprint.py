"""A fingerprint of what a step's result depends on, and the decision to reuse an earlier result or redo it.

Two steps of a plan skip their work when nothing they depend on changed: the ingest reuses the raw tables
of an earlier load (sources/reuse.py) and the warehouse skips `dbt build` when the marts already hold what
it would build (orchestration/warehouse_state.py). Both record a fingerprint of their inputs with the run
and compare the next run's fingerprint with it. The module lives in sources/ because sources/ imports
nothing of orchestration/ while orchestration/ already imports sources/.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime


def digest_of(parts: dict) -> str:
    """SHA-256 of the parts as canonical JSON (sorted keys, non-JSON values as text): the digest that
    earlier runs stored, so it must not change shape."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What a step's result depends on: the readable parts, and their digest (fixed when made)."""

    parts: dict
    digest: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", digest_of(self.parts))

    @property
    def short(self) -> str:
        """The first 16 hex digits, for logs and metadata a person reads."""
        return self.digest[:16]


@dataclass(frozen=True)
class Decision:
    """Reuse the result of earlier run `run_id` (made at `made_at`; `recorded` is what that run wrote down
    to be replayed, e.g. row counts or check outcomes), or, without `run_id`, redo the work for `reason`."""

    run_id: str | None
    made_at: datetime | None
    reason: str
    recorded: dict | None = None

    @property
    def reuse(self) -> bool:
        return self.run_id is not None


def redo(reason: str) -> Decision:
    """The decision to do the work again, saying why."""
    return Decision(None, None, reason)
