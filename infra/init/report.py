"""What an initer did with each object: created it, or found it already there."""

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    CREATED = "created"
    EXISTED = "already existed"
    DIFFERS = "exists but differs"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class InitResult:
    store: str
    kind: str
    name: str
    outcome: Outcome
    note: str = ""

    def line(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.store:<10} {self.kind:<12} {self.name:<40} {self.outcome}{note}"
