"""A parsed formula and ``parse``, the engine's entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from airtable_formula.compiler import _compile
from airtable_formula.errors import GENERIC_ERROR, FormulaError, _ErrorSignal
from airtable_formula.parser import _Parser
from airtable_formula.values import _truthy

if TYPE_CHECKING:
    from airtable_formula.code import RecordContext, Runner
    from airtable_formula.nodes import Node


@dataclass(frozen=True)
class Formula:
    source: str
    field_refs: frozenset[str]  # every {Field} reference, so callers can validate them first
    functions: frozenset[str]  # every function it calls (upper-case), for callers that cannot serve some
    tree: Node = field(repr=False, compare=False)  # the parsed text, for callers that translate a formula
    _run: Runner = field(repr=False, compare=False)

    def evaluate(self, ctx: RecordContext, now: datetime) -> Any:
        """The formula's value for one record: a Python value or an ``ErrorValue``."""
        try:
            return self._run(ctx, now)
        except _ErrorSignal as signal:
            return signal.error
        except FormulaError:
            raise  # a field that does not exist is the caller's problem, not a data error
        except (ArithmeticError, ValueError):
            return GENERIC_ERROR  # defensive: data the engine did not foresee must not crash a scan

    def matches(self, ctx: RecordContext, now: datetime) -> bool:
        """filterByFormula's test: false for 0, false, "", blank, NaN, [] and errors."""
        try:
            return _truthy(self._run(ctx, now))
        except _ErrorSignal:
            return False
        except FormulaError:
            raise
        except (ArithmeticError, ValueError):
            return False


@lru_cache(maxsize=512)
def parse(source: str) -> Formula:
    """Parse and compile ``source``; raises ``FormulaError``. Cached: formulas are immutable."""
    parser = _Parser(source)
    tree = parser.parse()
    try:
        code = _compile(tree)
    except RecursionError as exc:
        raise FormulaError("The formula is nested too deeply") from exc
    return Formula(source, frozenset(parser.field_refs), frozenset(parser.functions), tree, code.run)
