"""The formula engine's errors: mistakes in the formula text, and Airtable's error values in data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class FormulaError(ValueError):
    """The formula text is invalid; the message is meant for the API caller."""


@dataclass(frozen=True)
class ErrorValue:
    """One of Airtable's computed error values."""

    kind: str  # "error" or "specialValue"
    value: str  # "#ERROR!", "#DIV/0!"… or "NaN", "Infinity", "-Infinity"

    def to_cell(self) -> dict:
        return {"error": self.value} if self.kind == "error" else {"specialValue": self.value}


GENERIC_ERROR = ErrorValue("error", "#ERROR!")
DIVISION_BY_ZERO = ErrorValue("error", "#DIV/0!")
NOT_A_NUMBER = ErrorValue("specialValue", "NaN")
INFINITY = ErrorValue("specialValue", "Infinity")
NEGATIVE_INFINITY = ErrorValue("specialValue", "-Infinity")


class _ErrorSignal(Exception):
    """Carries an ``ErrorValue`` up through the closures (never leaves the formula engine)."""

    def __init__(self, error: ErrorValue):
        super().__init__(error.value)
        self.error = error


def _fail(error: ErrorValue = GENERIC_ERROR) -> Any:
    raise _ErrorSignal(error)
