"""Functions that read the record or the clock rather than their arguments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airtable_formula.code import _Code, _fold
from airtable_formula.date_formats import (
    _check_input_format,
    _check_output_format,
    _datetime_parse,
    _input_format,
)
from airtable_formula.dates import _unit_name, _utc
from airtable_formula.errors import FormulaError
from airtable_formula.nodes import FieldRef

if TYPE_CHECKING:
    from airtable_formula.code import NodeCompiler
    from airtable_formula.nodes import Node


def _today(now: datetime) -> datetime:
    return _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)


def _build_record_id(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    return _Code(lambda ctx, now: ctx.record_id)


def _build_created_time(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    return _Code(lambda ctx, now: ctx.created_time)


def _build_last_modified_time(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    """With field arguments Airtable narrows to those fields; the sandbox keeps one time per record."""
    for arg in args:
        if not isinstance(arg, FieldRef):
            raise FormulaError("LAST_MODIFIED_TIME() accepts only field references, e.g. {Name}")
    return _Code(lambda ctx, now: ctx.last_modified_time)


def _build_now(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    return _Code(lambda ctx, now: _utc(now))


def _build_today(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    return _Code(lambda ctx, now: _today(now))


def _build_datetime_parse(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    """Folds at parse time unless the format lacks a year (then "today" fills it in, as moment does)."""
    codes = [compile_node(arg) for arg in args]
    if len(codes) > 1 and type(codes[1].value) is str and codes[1].value:
        _check_input_format(codes[1].value)
    runs = [code.run for code in codes]

    def run(ctx: Any, now: datetime) -> datetime:
        values = [part(ctx, now) for part in runs]
        values += [None] * (3 - len(values))
        return _datetime_parse(values[0], values[1], values[2], now)

    fmt = codes[1].value if len(codes) > 1 else None
    fixed_format = fmt is None or (type(fmt) is str and (not fmt or not _input_format(fmt).needs_now))
    if all(code.constant for code in codes) and fixed_format:
        return _fold(run)
    return _Code(run)


def _check_unit_at(index: int) -> Callable[[list[_Code]], None]:
    def check(codes: list[_Code]) -> None:
        if len(codes) > index and type(codes[index].value) is str and _unit_name(codes[index].value) is None:
            units = "milliseconds, seconds, minutes, hours, days, weeks, months, quarters, years"
            raise FormulaError(f"Unknown time unit {codes[index].value!r} (use one of: {units})")

    return check


def _check_output_format_argument(codes: list[_Code]) -> None:
    if len(codes) > 1 and type(codes[1].value) is str:
        _check_output_format(codes[1].value)
