"""What one check says about one table: passed or not, how bad, why (one line), which records, the details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]
MAX_LISTED = 20  # ids, mismatches and failing rows listed in a result: enough to act on, bounded in size


@dataclass
class CheckResult:
    table: str  # "base.table"
    check: str
    passed: bool
    severity: Severity  # how bad a failure is; an "error" failure blocks cutover and downstream assets
    reason: str  # one line a person can act on
    failing_ids: list[str] = field(default_factory=list)  # record ids at fault (at most MAX_LISTED)
    details: dict[str, Any] = field(default_factory=dict)  # JSON-ready; shown as Dagster metadata
    requests: int = 0  # Airtable requests the check used
    seconds: float = 0.0

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "error"

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "check": self.check,
            "severity": self.severity,
            "passed": self.passed,
            "reason": self.reason,
            "failing_ids": self.failing_ids,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "details": self.details,
        }


def first(items: list[Any], limit: int = MAX_LISTED) -> list[Any]:
    return items[:limit]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
