"""The binary and unary operators: arithmetic, text concatenation and JavaScript-like comparisons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.formula.dates import _parse_iso
from airtable_sandbox.formula.errors import DIVISION_BY_ZERO, NOT_A_NUMBER, _fail
from airtable_sandbox.formula.values import _number, _number_result, _parse_number_text, _text


def _add(left: Any, right: Any) -> Any:
    return _number_result(_number(left) + _number(right))


def _subtract(left: Any, right: Any) -> Any:
    return _number_result(_number(left) - _number(right))


def _multiply(left: Any, right: Any) -> Any:
    return _number_result(_number(left) * _number(right))


def _divide(left: Any, right: Any) -> Any:
    dividend, divisor = _number(left), _number(right)
    if divisor == 0:
        return _fail(NOT_A_NUMBER if dividend == 0 or dividend != dividend else DIVISION_BY_ZERO)
    return _number_result(dividend / divisor)


def _negate(value: Any) -> Any:
    return _number_result(-_number(value))


def _concat(left: Any, right: Any) -> str:
    return _text(left) + _text(right)


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Bring two values to one type for a comparison, or ``None`` when they cannot meet.

    Blank counts as "" against text and as 0 against numbers; text against a number is read as a
    number (JS rules); text against a date is parsed as a date; lists compare as their joined text.
    """
    if type(left) is list:
        left = _text(left)
    if type(right) is list:
        right = _text(right)
    if type(left) is bool:
        left = int(left)
    if type(right) is bool:
        right = int(right)
    if left is None:
        left = _blank_like(right)
    if right is None:
        right = _blank_like(left)
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind == right_kind:
        return (0, 0) if left_kind == "blank" else (left, right)
    if left_kind == "number" and right_kind == "text":
        return left, _parse_number_text(right)
    if left_kind == "text" and right_kind == "number":
        return _parse_number_text(left), right
    if left_kind == "date" and right_kind == "text":
        return _date_or_text(left, right)
    if left_kind == "text" and right_kind == "date":
        swapped = _date_or_text(right, left)
        return swapped[1], swapped[0]
    return None


def _blank_like(other: Any) -> Any:
    if type(other) is str:
        return ""
    if type(other) in (int, float):
        return 0
    return None


def _kind(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return "text"
    if kind is int or kind is float:
        return "number"
    if kind is datetime:
        return "date"
    if value is None:
        return "blank"
    return "other"


def _date_or_text(date: datetime, text: str) -> tuple[Any, Any]:
    parsed = _parse_iso(text)
    if parsed is None:
        return iso_millis(date), text
    return date, parsed


def _equals(left: Any, right: Any) -> bool:
    if type(left) is type(right) and type(left) is str:
        return left == right
    pair = _comparable(left, right)
    return pair is not None and pair[0] == pair[1]


def _not_equals(left: Any, right: Any) -> bool:
    return not _equals(left, right)


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        pair = _comparable(left, right)
        return pair is not None and test(pair[0], pair[1])

    return compare


_BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "/": _divide,
    "&": _concat,
    "=": _equals,
    "!=": _not_equals,
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
}
