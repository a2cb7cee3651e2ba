"""Value conversions. Airtable is JavaScript underneath; these follow its coercions."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.formula.errors import INFINITY, NEGATIVE_INFINITY, NOT_A_NUMBER, ErrorValue, _fail


def to_cell_value(value: Any) -> Any:
    """A formula result as a V1 cell value; ``None`` means the cell is empty (omitted)."""
    if isinstance(value, ErrorValue):
        return value.to_cell()
    if value is None or value is False or value == "" or value == []:
        return None
    if isinstance(value, list):
        return [_cell_item(item) for item in value]
    return _cell_item(value)


def _cell_item(value: Any) -> Any:
    if isinstance(value, ErrorValue):
        return value.to_cell()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return NOT_A_NUMBER.to_cell()
        if math.isinf(value):
            return (INFINITY if value > 0 else NEGATIVE_INFINITY).to_cell()
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, list):
        return [_cell_item(item) for item in value]
    return value


_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


def _truthy(value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        return value
    if kind is str:
        return value != ""
    if kind is int:
        return value != 0
    if kind is float:
        return value != 0 and value == value  # NaN is false
    if value is None:
        return False
    if kind is list:
        return len(value) > 0
    return True


def _text(value: Any) -> str:
    """String context (``&``, text functions); lists join with ", " as Airtable shows them."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "1" if value else "0"  # Airtable represents true numerically by 1
    if kind is int:
        return str(value)
    if kind is float:
        return _number_text(value)
    if kind is datetime:
        return iso_millis(value)
    if kind is list:
        return ", ".join(_text(item) for item in _flatten(value))
    return str(value)


def _number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _number(value: Any) -> int | float:
    """Numeric context: blank and "" are 0, booleans 1/0, text parsed like JS ``Number()``."""
    kind = type(value)
    if kind is int or kind is float:
        return value
    if value is None:
        return 0
    if kind is bool:
        return int(value)
    if kind is str:
        return _parse_number_text(value)
    if kind is list:
        return _parse_number_text(_text(value))
    return math.nan


def _parse_number_text(text: str) -> int | float:
    stripped = text.strip()
    if not stripped:
        return 0
    if _INTEGER_TEXT.fullmatch(stripped):
        return int(stripped)
    if _NUMBER_TEXT.fullmatch(stripped):
        return float(stripped)
    return math.nan


def _number_result(result: int | float) -> int | float:
    """NaN and infinities become Airtable's special values."""
    if result - result == 0:
        return result
    if result != result:
        return _fail(NOT_A_NUMBER)
    return _fail(INFINITY if result > 0 else NEGATIVE_INFINITY)


def _whole(value: Any) -> int:
    """An argument that counts characters or positions: truncated toward zero."""
    number = _number(value)
    if number != number or number in (math.inf, -math.inf):
        return _fail()
    return int(number)


def _flatten(values: Iterable[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if type(value) is list:
            flat.extend(_flatten(value))
        else:
            flat.append(value)
    return flat


def _as_list(value: Any) -> list[Any]:
    if type(value) is list:
        return value
    return [] if value is None else [value]


def _from_cell(value: Any) -> Any:
    """A V1 cell value that is not a plain scalar: lists, error objects, objects shown by name."""
    if isinstance(value, list):
        return [_from_cell(item) for item in value]
    if isinstance(value, dict):
        return _from_cell_object(value)
    return value


def _from_cell_object(value: dict) -> Any:
    keys = value.keys()
    if keys == {"error"}:
        return _fail(ErrorValue("error", str(value["error"])))
    if keys == {"specialValue"}:
        return _fail(ErrorValue("specialValue", str(value["specialValue"])))
    if "filename" in value and "url" in value:  # attachments read as "name (url)"
        return f"{value['filename']} ({value['url']})"
    for key in ("name", "email", "text", "label", "value", "id"):  # collaborators, barcodes, buttons…
        if isinstance(value.get(key), str):
            return value[key]
    return str(value)
