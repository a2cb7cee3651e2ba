"""Numeric, aggregate and array functions."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from typing import Any

from airtable_sandbox.formula.dates import _parse_iso
from airtable_sandbox.formula.errors import DIVISION_BY_ZERO, NOT_A_NUMBER, _fail
from airtable_sandbox.formula.operators import _kind
from airtable_sandbox.formula.values import (
    _NUMBER_TEXT,
    _as_list,
    _flatten,
    _number,
    _number_result,
    _parse_number_text,
    _text,
    _whole,
)

_CURRENCY_NOISE = re.compile(r"[\s,$€£¥]")


def _value(value: Any) -> int | float | None:
    """VALUE("$1,000") = 1000: currency signs, spaces and thousands separators are ignored."""
    if value is None or value == "":
        return None
    if type(value) in (int, float, bool):
        return _number(value)
    number = _parse_number_text(_CURRENCY_NOISE.sub("", _text(value)))
    return _number_result(number)


def _decimal_round(value: Any, precision: Any, mode_for: Callable[[Decimal], str]) -> int | float:
    number = _number_result(_number(value))
    places = _whole(precision)
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    try:
        rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=mode_for(exact))
    except InvalidOperation:
        return number  # more places than the value has digits: nothing to round
    return int(rounded) if places <= 0 else float(rounded)


def _round(value: Any, precision: Any = 0) -> int | float:
    """Ties go toward +infinity, as Airtable documents (2.5 → 3, -2.5 → -2)."""
    return _decimal_round(value, precision, lambda d: ROUND_HALF_UP if d >= 0 else ROUND_HALF_DOWN)


def _roundup(value: Any, precision: Any = 0) -> int | float:
    """Away from zero."""
    return _decimal_round(value, precision, lambda d: ROUND_UP)


def _rounddown(value: Any, precision: Any = 0) -> int | float:
    """Toward zero."""
    return _decimal_round(value, precision, lambda d: ROUND_DOWN)


def _int(value: Any) -> int:
    number = _number_result(_number(value))
    return math.floor(number)


def _abs(value: Any) -> int | float:
    return abs(_number_result(_number(value)))


def _mod(value: Any, divisor: Any) -> int | float:
    """The sign follows the dividend (JavaScript's ``%``): MOD(-7, 3) = -1."""
    dividend, by = _number(value), _number(divisor)
    if by == 0:
        return _fail(NOT_A_NUMBER if dividend == 0 else DIVISION_BY_ZERO)
    if type(dividend) is int and type(by) is int:
        remainder = abs(dividend) % abs(by)
        return -remainder if dividend < 0 else remainder
    return _number_result(math.fmod(dividend, by))


def _numbers(values: Iterable[Any]) -> list[int | float]:
    """The numeric items among the (flattened) arguments; text that reads as a number counts."""
    found: list[int | float] = []
    for item in _flatten(values):
        kind = type(item)
        if kind is int or kind is float:
            found.append(item)
        elif kind is bool:
            found.append(int(item))
        elif kind is str and _NUMBER_TEXT.fullmatch(item.strip()):
            found.append(_parse_number_text(item))
    return found


def _sum(*values: Any) -> int | float:
    return _number_result(sum(_numbers(values)))


def _dates_only(values: Iterable[Any]) -> list[datetime] | None:
    """All non-blank items as dates when every one of them is a date (a rollup of a date field)."""
    dates: list[datetime] = []
    for item in _flatten(values):
        if item is None or item == "":
            continue
        date = item if type(item) is datetime else _parse_iso(item) if type(item) is str else None
        if date is None:
            return None
        dates.append(date)
    return dates or None


def _min(*values: Any) -> Any:
    dates = _dates_only(values)
    if dates is not None:
        return min(dates)
    numbers = _numbers(values)
    return min(numbers) if numbers else 0


def _max(*values: Any) -> Any:
    dates = _dates_only(values)
    if dates is not None:
        return max(dates)
    numbers = _numbers(values)
    return max(numbers) if numbers else 0


def _average(*values: Any) -> float:
    numbers = _numbers(values)
    if not numbers:
        return _fail(DIVISION_BY_ZERO)
    return _number_result(sum(numbers) / len(numbers))


def _count(*values: Any) -> int:
    return sum(1 for item in _flatten(values) if type(item) in (int, float))


def _counta(*values: Any) -> int:
    return sum(1 for item in _flatten(values) if item is not None and item != "")


def _countall(*values: Any) -> int:
    return len(_flatten(values))


def _arrayjoin(values: Any, separator: Any = ", ") -> str:
    return _text(separator).join(_text(item) for item in _flatten(_as_list(values)))


def _arrayunique(values: Any) -> list[Any]:
    seen: set[Any] = set()
    unique: list[Any] = []
    for item in _flatten(_as_list(values)):
        key = (_kind(item), item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _arraycompact(values: Any) -> list[Any]:
    """Drops blanks and "" only; false and "  " stay (Airtable's documented behaviour)."""
    return [item for item in _flatten(_as_list(values)) if item is not None and item != ""]


def _arrayflatten(values: Any) -> list[Any]:
    return _flatten(_as_list(values))
