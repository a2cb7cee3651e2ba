"""Compiled code: closures over (record, now), constant folding and the record context they read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from airtable_formula.errors import GENERIC_ERROR, _ErrorSignal
from airtable_formula.nodes import Node
from airtable_formula.values import _from_cell

if TYPE_CHECKING:
    from airtable_formula.errors import ErrorValue


class RecordContext(Protocol):
    record_id: str
    created_time: datetime  # tz-aware UTC
    last_modified_time: datetime  # tz-aware UTC (last change of a non-computed field)

    def cell(self, field_ref: str) -> Any:
        """V1 cell value (None when empty) for a field name or id as written inside ``{…}``."""
        ...


Runner = Callable[[Any, datetime], Any]


_NO_VALUE = object()
# A builder compiles its own arguments (lazily, or not at all) with the compiler it is handed.
NodeCompiler = Callable[[Node], "_Code"]
Builder = Callable[[tuple[Node, ...], NodeCompiler], "_Code"]


@dataclass(frozen=True)
class _Code:
    run: Runner
    constant: bool = False  # depends on neither the record nor the clock
    value: Any = _NO_VALUE  # the constant's value, when it has one (a constant error has none)


@dataclass(frozen=True)
class _Function:
    min_args: int
    max_args: int | None
    impl: Callable[..., Any] | None = None  # called with argument values; pure
    build: Builder | None = None  # custom compilation (lazy, impure)
    check: Callable[[list[_Code]], None] | None = None  # parse-time check of literal arguments


def _constant(value: Any) -> _Code:
    return _Code(lambda ctx, now: value, True, value)


def _constant_error(error: ErrorValue) -> _Code:
    def run(ctx: Any, now: datetime) -> Any:
        raise _ErrorSignal(error)

    return _Code(run, True)


def _fold(run: Runner) -> _Code:
    """Evaluate a record-independent expression now, once."""
    try:
        return _constant(run(None, None))  # type: ignore[arg-type]
    except _ErrorSignal as signal:
        return _constant_error(signal.error)
    except (ArithmeticError, ValueError):
        return _constant_error(GENERIC_ERROR)


def _cell_runner(ref: str) -> Runner:
    def run(ctx: Any, now: datetime) -> Any:
        value = ctx.cell(ref)
        kind = type(value)
        if kind is str or value is None or kind is int or kind is float or kind is bool:
            return value
        return _from_cell(value)

    return run


def _apply(impl: Callable[..., Any], codes: list[_Code]) -> _Code:
    """A call of a pure function; folded when every argument is constant."""
    run = _call_runner(impl, codes)
    if all(code.constant for code in codes):
        return _fold(run)
    return _Code(run)


def _call_runner(impl: Callable[..., Any], codes: list[_Code]) -> Runner:
    runs = [code.run for code in codes]
    if not codes:
        return lambda ctx, now: impl()
    if len(codes) == 1:
        only = runs[0]
        return lambda ctx, now: impl(only(ctx, now))
    if len(codes) == 2:
        return _binary_runner(impl, codes[0], codes[1])
    if len(codes) == 3:
        first, second, third = runs
        return lambda ctx, now: impl(first(ctx, now), second(ctx, now), third(ctx, now))
    return lambda ctx, now: impl(*[run(ctx, now) for run in runs])


def _binary_runner(impl: Callable[[Any, Any], Any], left: _Code, right: _Code) -> Runner:
    """Constant operands are bound as values: one call fewer per record on the hot path."""
    left_run, right_run = left.run, right.run
    if right.value is not _NO_VALUE:
        fixed_right = right.value
        return lambda ctx, now: impl(left_run(ctx, now), fixed_right)
    if left.value is not _NO_VALUE:
        fixed_left = left.value
        return lambda ctx, now: impl(fixed_left, right_run(ctx, now))
    return lambda ctx, now: impl(left_run(ctx, now), right_run(ctx, now))
