"""Airtable's formula language, as the sandbox needs it: ``filterByFormula`` and formula fields.

``parse()`` reads the text once into a tree of small closures; evaluating a record is then a
handful of Python calls. Three things keep a scan over a million records cheap:

- sub-expressions without record or clock inputs (``DATETIME_PARSE('2024-…')``) are computed
  once, at parse time;
- a cell is read only when the evaluation reaches its ``{Field}`` (``IF``/``AND``/``OR``/``SWITCH``
  are lazy), so ``IS_AFTER(LAST_MODIFIED_TIME(), …)`` touches no cell at all;
- ``OR(X='a', X='b', …)`` over one subject (pyairtable's ``OR(RECORD_ID().eq(id) …)``) becomes
  one set lookup instead of hundreds of comparisons.

Errors in data (``ERROR()``, ``1/0``, a cell holding ``{"error": "#ERROR!"}``) travel as an internal
exception so every function stays simple; ``Formula.evaluate`` turns them into ``ErrorValue``.
Mistakes in the formula itself (syntax, unknown function, wrong argument count, an unknown
date unit or format token given as a literal) raise ``FormulaError`` from ``parse``.

The supported language, exactly:

- literals: numbers (``3``, ``2.5``, ``1e3``), ``'…'`` / ``"…"`` strings with backslash escapes
  (``\\n``, ``\\t``, ``\\r``; any other escaped character stands for itself), field references
  ``{Name}`` / ``{fld…}`` (``\\}`` is a literal ``}``, as pyairtable's ``Field()`` writes it);
- operators, loosest first: ``= != < <= > >=``, ``&``, ``+ -``, ``* /``, unary ``-``; parentheses;
- the functions in ``SUPPORTED_FUNCTIONS`` (names are case-insensitive).

Values inside the engine are ``None`` (blank), ``str``, ``int``/``float``, ``bool``, ``datetime``
(tz-aware UTC) and ``list``. Where Airtable's behaviour is not documented the engine follows the
JavaScript/moment.js semantics Airtable is built on; those choices are noted where they are made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from airtable_pg.sandbox.clock import iso_millis

__all__ = [
    "SUPPORTED_FUNCTIONS",
    "ErrorValue",
    "Formula",
    "FormulaError",
    "RecordContext",
    "parse",
    "to_cell_value",
]


# ---------------------------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------------------------


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


class RecordContext(Protocol):
    record_id: str
    created_time: datetime  # tz-aware UTC
    last_modified_time: datetime  # tz-aware UTC (last change of a non-computed field)

    def cell(self, field_ref: str) -> Any:
        """V1 cell value (None when empty) for a field name or id as written inside ``{…}``."""
        ...


Runner = Callable[[Any, datetime], Any]


@dataclass(frozen=True)
class Formula:
    source: str
    field_refs: frozenset[str]  # every {Field} reference, so callers can validate them first
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
    return Formula(source, frozenset(parser.field_refs), code.run)


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


class _ErrorSignal(Exception):
    """Carries an ``ErrorValue`` up through the closures (never leaves this module)."""

    def __init__(self, error: ErrorValue):
        super().__init__(error.value)
        self.error = error


def _fail(error: ErrorValue = GENERIC_ERROR) -> Any:
    raise _ErrorSignal(error)


# ---------------------------------------------------------------------------------------------
# Tokens and syntax tree
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<field>\{(?:[^}\\]|\\.)*\})
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>!=|<=|>=|[-+*/&=<>(),])""",
    re.VERBOSE | re.DOTALL,
)
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_STRING_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class _Token(NamedTuple):
    kind: str  # number, string, field, name, op, end
    text: str
    position: int  # 1-based character position, for messages


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _FieldRef:
    name: str


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Negate:
    operand: _Node


_Node = _Literal | _FieldRef | _Call | _Binary | _Negate

_PRECEDENCE = {"=": 1, "!=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4}


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise FormulaError(_lexing_problem(source, position))
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


def _lexing_problem(source: str, position: int) -> str:
    char = source[position]
    if char in "'\"":
        return f"Unterminated string starting at character {position + 1}"
    if char == "{":
        return f"Unterminated field reference starting at character {position + 1}"
    return f"Unexpected character {char!r} at character {position + 1}"


def _string_value(token_text: str) -> str:
    return _STRING_ESCAPE.sub(lambda m: _STRING_ESCAPES.get(m.group(1), m.group(1)), token_text[1:-1])


def _number_value(token_text: str) -> int | float:
    if token_text.isdigit():
        return int(token_text)
    return float(token_text)


class _Parser:
    """Precedence climbing: few Python frames per nesting level, so deep formulas still parse."""

    def __init__(self, source: str):
        self.source = source
        self.field_refs: set[str] = set()
        self.tokens = _tokenize(source)
        self.index = 0

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise FormulaError("The formula is empty")
        try:
            node = self.expression(1)
        except RecursionError as exc:
            raise FormulaError("The formula is nested too deeply") from exc
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())
        return node

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.advance()
        if token.kind != "op" or token.text != text:
            raise self.unexpected(token, f"expected '{text}'")

    def unexpected(self, token: _Token, hint: str = "") -> FormulaError:
        found = "end of formula" if token.kind == "end" else repr(token.text)
        suffix = f" ({hint})" if hint else ""
        return FormulaError(f"Unexpected {found} at character {token.position}{suffix}")

    def expression(self, min_precedence: int) -> _Node:
        left = self.unary()
        while True:
            token = self.peek()
            precedence = _PRECEDENCE.get(token.text, 0) if token.kind == "op" else 0
            if precedence < min_precedence:  # 0 for anything that is not a binary operator
                return left
            self.advance()
            left = _Binary(token.text, left, self.expression(precedence + 1))

    def unary(self) -> _Node:
        token = self.peek()
        if token.kind == "op" and token.text == "-":
            self.advance()
            return _Negate(self.unary())
        return self.primary()

    def primary(self) -> _Node:
        token = self.advance()
        if token.kind == "number":
            return _Literal(_number_value(token.text))
        if token.kind == "string":
            return _Literal(_string_value(token.text))
        if token.kind == "field":
            return self.field_ref(token)
        if token.kind == "name":
            return self.call(token)
        if token.kind == "op" and token.text == "(":
            node = self.expression(1)
            self.expect(")")
            return node
        raise self.unexpected(token)

    def field_ref(self, token: _Token) -> _FieldRef:
        name = token.text[1:-1].replace("\\}", "}")
        if not name:
            raise FormulaError(f"Empty field reference {{}} at character {token.position}")
        self.field_refs.add(name)
        return _FieldRef(name)

    def call(self, token: _Token) -> _Call:
        name = token.text.upper()
        following = self.peek()
        if following.kind != "op" or following.text != "(":
            raise FormulaError(
                f"Unknown identifier {token.text!r} at character {token.position} "
                "(functions need parentheses, e.g. TRUE(); field names need braces, e.g. {Name})"
            )
        function = _FUNCTIONS.get(name)
        if function is None:
            raise FormulaError(f"Unknown function {token.text}() at character {token.position}")
        self.advance()
        args = self.arguments()
        _check_arity(name, function, len(args))
        return _Call(name, tuple(args))

    def arguments(self) -> list[_Node]:
        args: list[_Node] = []
        if self.peek().kind == "op" and self.peek().text == ")":
            self.advance()
            return args
        while True:
            args.append(self.expression(1))
            token = self.advance()
            if token.kind == "op" and token.text == ")":
                return args
            if token.kind != "op" or token.text != ",":
                raise self.unexpected(token, "expected ',' or ')'")


def _check_arity(name: str, function: _Function, count: int) -> None:
    low, high = function.min_args, function.max_args
    if low <= count and (high is None or count <= high):
        return
    if high is None:
        expected = f"at least {low} argument{'s' if low != 1 else ''}"
    elif low == high:
        expected = f"exactly {low} argument{'s' if low != 1 else ''}"
    else:
        expected = f"{low} to {high} arguments"
    raise FormulaError(f"{name}() takes {expected}, got {count}")


# ---------------------------------------------------------------------------------------------
# Value conversions (Airtable is JavaScript underneath; these follow its coercions)
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Dates: ISO parsing, units, moment.js formats
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _parse_iso(text: str) -> datetime | None:
    """ISO 8601 date or datetime; no offset means UTC, a date alone is midnight UTC."""
    stripped = text.strip()
    if len(stripped) < 8:
        return None
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _date(value: Any) -> datetime:
    """Date context: datetimes pass, ISO text is parsed, anything else (blank too) is #ERROR!."""
    if type(value) is datetime:
        return value
    if type(value) is str:
        parsed = _parse_iso(value)
        return _fail() if parsed is None else parsed
    if type(value) is list and len(value) == 1:
        return _date(value[0])
    return _fail()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_UNIT_SHORTHANDS = {
    "ms": "millisecond",
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "M": "month",
    "Q": "quarter",
    "y": "year",
}
_UNITS = ("millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year")
_UNIT_MILLISECONDS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 604_800_000,
}
_UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _unit_name(text: str) -> str | None:
    """moment.js unit names: shorthands (case matters: M month, m minute), singular or plural."""
    if text in _UNIT_SHORTHANDS:
        return _UNIT_SHORTHANDS[text]
    lowered = text.strip().lower()
    singular = lowered[:-1] if lowered.endswith("s") else lowered
    return singular if singular in _UNITS else None


def _unit(value: Any) -> str:
    unit = _unit_name(_text(value))
    return _fail() if unit is None else unit


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _add_months(moment: datetime, months: int) -> datetime:
    """moment.js: the day of month is clamped to the target month's length (Jan 31 + 1 → Feb 29)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    return moment.replace(year=year, month=month + 1, day=day)


def _round_half_away(number: float) -> int:
    return math.floor(abs(number) + 0.5) * (1 if number >= 0 else -1)


def _date_add(moment: Any, count: Any, unit: Any) -> datetime:
    start, amount, name = _date(moment), _number(count), _unit(unit)
    if amount != amount or amount in (math.inf, -math.inf):
        return _fail()
    if name in _UNIT_MONTHS:
        return _add_months(start, _round_half_away(amount * _UNIT_MONTHS[name]))
    if name in ("day", "week"):
        return start + timedelta(days=_round_half_away(amount * (7 if name == "week" else 1)))
    return start + timedelta(milliseconds=math.trunc(amount * _UNIT_MILLISECONDS[name]))


def _month_difference(first: datetime, second: datetime) -> float:
    """moment.js ``monthDiff``: ``first - second`` in (fractional) calendar months."""
    if first.day < second.day:
        return -_month_difference(second, first)
    whole = (second.year - first.year) * 12 + (second.month - first.month)
    anchor = _add_months(first, whole)
    if second < anchor:
        adjust = (second - anchor) / (anchor - _add_months(first, whole - 1))
    else:
        adjust = (second - anchor) / (_add_months(first, whole + 1) - anchor)
    return -(whole + adjust) or 0.0


def _datetime_diff(first: Any, second: Any, unit: Any = "seconds") -> int:
    """DATETIME_DIFF(date1, date2, unit) = date1 − date2, truncated toward zero (moment's diff)."""
    later, earlier, name = _date(first), _date(second), _unit(unit)
    if name in _UNIT_MONTHS:
        return math.trunc(_month_difference(later, earlier) / _UNIT_MONTHS[name])
    elapsed_ms = (later - earlier) / timedelta(milliseconds=1)
    return math.trunc(elapsed_ms / _UNIT_MILLISECONDS[name])


def _start_of(moment: datetime, unit: str) -> datetime:
    if unit == "millisecond":
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if unit == "second":
        return moment.replace(microsecond=0)
    if unit == "minute":
        return moment.replace(second=0, microsecond=0)
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return midnight
    if unit == "week":  # weeks start on Sunday (moment's default "en" locale)
        return midnight - timedelta(days=(moment.weekday() + 1) % 7)
    if unit == "month":
        return midnight.replace(day=1)
    if unit == "quarter":
        return midnight.replace(month=(moment.month - 1) // 3 * 3 + 1, day=1)
    return midnight.replace(month=1, day=1)


def _is_same(first: Any, second: Any, unit: Any = "milliseconds") -> bool:
    name = _unit(unit)
    return _start_of(_date(first), name) == _start_of(_date(second), name)


def _is_after(first: Any, second: Any) -> bool:
    return _date(first) > _date(second)


def _is_before(first: Any, second: Any) -> bool:
    return _date(first) < _date(second)


_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_LOCALIZED_FORMATS = {
    "LTS": "h:mm:ss A",
    "LT": "h:mm A",
    "L": "MM/DD/YYYY",
    "LL": "MMMM D, YYYY",
    "LLL": "MMMM D, YYYY h:mm A",
    "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "l": "M/D/YYYY",
    "ll": "MMM D, YYYY",
    "lll": "MMM D, YYYY h:mm A",
    "llll": "ddd, MMM D, YYYY h:mm A",
}
_LOCALIZED_TOKEN = re.compile(r"\[[^\[\]]*\]|LTS|LT|LL?L?L?|l{1,4}")
# moment.js's own token grammar; a token it knows but this engine does not is reported, and
# everything else (like the "T" in "YYYY-MM-DDTHH") is literal text, as in moment.
_FORMAT_TOKEN = re.compile(
    r"\[[^\[\]]*\]|\\.|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[ow]?|W[oW]?|Qo?|N{1,5}|YYYYYY|YYYYY|YYYY|YY"
    r"|y{2,4}|yo?|gg(?:ggg?)?|GG(?:GGG?)?|e|E|a|A|hh?|HH?|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|.",
    re.DOTALL,
)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _twelve_hour(moment: datetime) -> int:
    return moment.hour % 12 or 12


def _epoch_milliseconds(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


_FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "YYYY": lambda d: f"{d.year:04d}",
    "YY": lambda d: f"{d.year % 100:02d}",
    "Q": lambda d: str((d.month - 1) // 3 + 1),
    "M": lambda d: str(d.month),
    "MM": lambda d: f"{d.month:02d}",
    "MMM": lambda d: _MONTH_NAMES[d.month - 1][:3],
    "MMMM": lambda d: _MONTH_NAMES[d.month - 1],
    "D": lambda d: str(d.day),
    "DD": lambda d: f"{d.day:02d}",
    "Do": lambda d: _ordinal(d.day),
    "DDD": lambda d: str(d.timetuple().tm_yday),
    "DDDD": lambda d: f"{d.timetuple().tm_yday:03d}",
    "d": lambda d: str((d.weekday() + 1) % 7),
    "e": lambda d: str((d.weekday() + 1) % 7),
    "E": lambda d: str(d.isoweekday()),
    "dd": lambda d: _DAY_NAMES[(d.weekday() + 1) % 7][:2],
    "ddd": lambda d: _DAY_NAMES[(d.weekday() + 1) % 7][:3],
    "dddd": lambda d: _DAY_NAMES[(d.weekday() + 1) % 7],
    "H": lambda d: str(d.hour),
    "HH": lambda d: f"{d.hour:02d}",
    "h": lambda d: str(_twelve_hour(d)),
    "hh": lambda d: f"{_twelve_hour(d):02d}",
    "k": lambda d: str(d.hour or 24),
    "kk": lambda d: f"{d.hour or 24:02d}",
    "m": lambda d: str(d.minute),
    "mm": lambda d: f"{d.minute:02d}",
    "s": lambda d: str(d.second),
    "ss": lambda d: f"{d.second:02d}",
    "A": lambda d: "AM" if d.hour < 12 else "PM",
    "a": lambda d: "am" if d.hour < 12 else "pm",
    "Z": lambda d: "+00:00",
    "ZZ": lambda d: "+0000",
    "X": lambda d: str(_epoch_milliseconds(d) // 1000),
    "x": lambda d: str(_epoch_milliseconds(d)),
}

_MONTH_PATTERN = "|".join([*_MONTH_NAMES, *(name[:3] for name in _MONTH_NAMES)])
_DAY_PATTERN = "|".join([*_DAY_NAMES, *(name[:3] for name in _DAY_NAMES), *(name[:2] for name in _DAY_NAMES)])
_PARSE_TOKENS: dict[str, tuple[str, str]] = {  # token → (regex, what it sets)
    "YYYY": (r"\d{4}", "year"),
    "YY": (r"\d{2}", "two_digit_year"),
    "M": (r"\d{1,2}", "month"),
    "MM": (r"\d{1,2}", "month"),
    "MMM": (_MONTH_PATTERN, "month_name"),
    "MMMM": (_MONTH_PATTERN, "month_name"),
    "D": (r"\d{1,2}", "day"),
    "DD": (r"\d{1,2}", "day"),
    "Do": (r"\d{1,2}(?:st|nd|rd|th)", "ordinal_day"),
    "H": (r"\d{1,2}", "hour"),
    "HH": (r"\d{1,2}", "hour"),
    "k": (r"\d{1,2}", "hour"),
    "kk": (r"\d{1,2}", "hour"),
    "h": (r"\d{1,2}", "hour"),
    "hh": (r"\d{1,2}", "hour"),
    "m": (r"\d{1,2}", "minute"),
    "mm": (r"\d{1,2}", "minute"),
    "s": (r"\d{1,2}", "second"),
    "ss": (r"\d{1,2}", "second"),
    "A": (r"[ap]\.?m\.?", "meridiem"),
    "a": (r"[ap]\.?m\.?", "meridiem"),
    "Z": (r"Z|[+-]\d\d:?\d\d", "offset"),
    "ZZ": (r"Z|[+-]\d\d:?\d\d", "offset"),
    "X": (r"-?\d+(?:\.\d+)?", "unix_seconds"),
    "x": (r"-?\d+", "unix_milliseconds"),
    "dd": (_DAY_PATTERN, "ignored"),
    "ddd": (_DAY_PATTERN, "ignored"),
    "dddd": (_DAY_PATTERN, "ignored"),
}


class _FormatPart(NamedTuple):
    literal: bool
    text: str


@lru_cache(maxsize=256)
def _format_parts(fmt: str) -> tuple[_FormatPart, ...]:
    expanded = _LOCALIZED_TOKEN.sub(lambda m: _LOCALIZED_FORMATS.get(m.group(), m.group()), fmt)
    parts: list[_FormatPart] = []
    for match in _FORMAT_TOKEN.finditer(expanded):
        token = match.group()
        if token.startswith("[") and token.endswith("]") and len(token) > 1:
            parts.append(_FormatPart(True, token[1:-1]))
        elif token.startswith("\\") and len(token) == 2:
            parts.append(_FormatPart(True, token[1]))
        elif len(token) == 1 and not _is_single_letter_token(token):
            parts.append(_FormatPart(True, token))
        else:
            parts.append(_FormatPart(False, token))
    return tuple(parts)


def _is_single_letter_token(char: str) -> bool:
    return char in "MDdwWQNyeEaAhHkmsSxXzZ"


def _unsupported_format_token(fmt: str, known: Iterable[str]) -> str | None:
    known_tokens = set(known)
    for part in _format_parts(fmt):
        if not part.literal and not _is_fraction_token(part.text) and part.text not in known_tokens:
            return part.text
    return None


def _is_fraction_token(token: str) -> bool:
    return token[0] == "S" and set(token) == {"S"}


def _check_output_format(fmt: str) -> None:
    token = _unsupported_format_token(fmt, _FORMATTERS)
    if token is not None:
        raise FormulaError(f"DATETIME_FORMAT: unsupported format token {token!r} in {fmt!r}")


def _check_input_format(fmt: str) -> None:
    token = _unsupported_format_token(fmt, _PARSE_TOKENS)
    if token is not None:
        raise FormulaError(f"DATETIME_PARSE: unsupported format token {token!r} in {fmt!r}")


def _format_datetime(moment: datetime, fmt: str) -> str:
    if _unsupported_format_token(fmt, _FORMATTERS) is not None:
        return _fail()
    moment = moment.astimezone(UTC)
    pieces: list[str] = []
    for part in _format_parts(fmt):
        if part.literal:
            pieces.append(part.text)
        elif _is_fraction_token(part.text):
            pieces.append((f"{moment.microsecond // 1000:03d}" + "000000")[: len(part.text)])
        else:
            pieces.append(_FORMATTERS[part.text](moment))
    return "".join(pieces)


def _datetime_format(moment: Any, fmt: Any = None) -> str:
    date = _date(moment)
    if fmt is None:
        return iso_millis(date)
    return _format_datetime(date, _text(fmt))


class _InputFormat(NamedTuple):
    pattern: re.Pattern[str]
    fields: tuple[str, ...]  # what group i+1 sets
    needs_now: bool  # no year in the format: moment takes the missing date parts from today


@lru_cache(maxsize=256)
def _input_format(fmt: str) -> _InputFormat | None:
    if _unsupported_format_token(fmt, _PARSE_TOKENS) is not None:
        return None
    regex: list[str] = [r"\s*"]
    fields: list[str] = []
    for part in _format_parts(fmt):
        if part.literal:
            regex.append(_literal_pattern(part.text))
        elif _is_fraction_token(part.text):
            regex.append(r"(\d+)")
            fields.append("fraction")
        else:
            pattern, target = _PARSE_TOKENS[part.text]
            regex.append(f"({pattern})")
            fields.append(target)
    regex.append(r"\s*")
    needs_now = not ({"year", "two_digit_year", "unix_seconds", "unix_milliseconds"} & set(fields))
    return _InputFormat(re.compile("".join(regex), re.IGNORECASE), tuple(fields), needs_now)


def _literal_pattern(text: str) -> str:
    """Like moment's forgiving parser: separators match any run of separators, words are optional."""
    pattern: list[str] = []
    for char in text:
        if char.isalnum():
            pattern.append(f"(?:{re.escape(char)})?")
        elif not pattern or pattern[-1] != r"[^0-9A-Za-z]*":
            pattern.append(r"[^0-9A-Za-z]*")
    return "".join(pattern)


def _datetime_parse(text: Any, fmt: Any = None, locale: Any = None, now: datetime | None = None) -> datetime:
    """DATETIME_PARSE: ISO 8601 without a format; with one, moment.js tokens (English names).

    ``locale`` is accepted and ignored: month and day names are read in English only.
    """
    if type(text) is datetime:
        return text
    source = _text(text)
    if fmt is None or _text(fmt) == "":
        parsed = _parse_iso(source)
        return _fail() if parsed is None else parsed
    spec = _input_format(_text(fmt))
    if spec is None or (spec.needs_now and now is None):
        return _fail()
    match = spec.pattern.fullmatch(source)
    if match is None:
        return _fail()
    return _assemble_datetime(dict(zip(spec.fields, match.groups(), strict=True)), now)


def _assemble_datetime(parts: dict[str, str], now: datetime | None) -> datetime:
    if "unix_milliseconds" in parts:
        return _from_epoch(int(parts["unix_milliseconds"]) / 1000)
    if "unix_seconds" in parts:
        return _from_epoch(float(parts["unix_seconds"]))
    date = _date_parts(parts, now)
    hour = int(parts.get("hour", 0))
    meridiem = parts.get("meridiem", "").lower()
    if meridiem.startswith("p") and hour < 12:
        hour += 12
    elif meridiem.startswith("a") and hour == 12:
        hour = 0
    fraction = parts.get("fraction", "")
    microsecond = int((fraction + "000000")[:6]) if fraction else 0
    moment = datetime(*date, hour, int(parts.get("minute", 0)), int(parts.get("second", 0)), microsecond, UTC)
    return moment - _offset(parts.get("offset", "Z"))


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return _fail()


def _date_parts(parts: dict[str, str], now: datetime | None) -> tuple[int, int, int]:
    """moment.js defaults: the leading missing parts of (year, month, day) come from today, the rest
    from the start of the period (``DATETIME_PARSE('5', 'D')`` is the 5th of this month)."""
    found: list[int | None] = [_year(parts), _month(parts), _day(parts)]
    today = _utc(now) if now is not None else None
    index = 0
    while index < 3 and found[index] is None and today is not None:
        found[index] = (today.year, today.month, today.day)[index]
        index += 1
    year, month, day = found[0] or 1970, found[1] or 1, found[2] or 1
    return year, month, day


def _year(parts: dict[str, str]) -> int | None:
    if "year" in parts:
        return int(parts["year"])
    if "two_digit_year" in parts:
        two_digits = int(parts["two_digit_year"])
        return two_digits + (1900 if two_digits > 68 else 2000)
    return None


def _month(parts: dict[str, str]) -> int | None:
    if "month" in parts:
        return int(parts["month"])
    if "month_name" in parts:
        abbreviations = [name[:3].lower() for name in _MONTH_NAMES]
        return abbreviations.index(parts["month_name"][:3].lower()) + 1
    return None


def _day(parts: dict[str, str]) -> int | None:
    if "day" in parts:
        return int(parts["day"])
    if "ordinal_day" in parts:
        return int(parts["ordinal_day"][:-2])
    return None


def _offset(text: str) -> timedelta:
    if text.upper() == "Z":
        return timedelta(0)
    digits = text[1:].replace(":", "")
    size = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return size if text[0] == "+" else -size


# ---------------------------------------------------------------------------------------------
# Functions on values
# ---------------------------------------------------------------------------------------------


def _not(value: Any) -> bool:
    return not _truthy(value)


def _xor(*values: Any) -> bool:
    return sum(1 for value in values if _truthy(value)) % 2 == 1


def _len(value: Any) -> int:
    return len(_text(value))


def _lower(value: Any) -> str:
    return _text(value).lower()


def _upper(value: Any) -> str:
    return _text(value).upper()


def _trim(value: Any) -> str:
    return _text(value).strip()


def _concatenate(*values: Any) -> str:
    return "".join(_text(value) for value in values)


def _position(needle: Any, haystack: Any, start: Any) -> int:
    """1-based position of ``needle`` in ``haystack`` at or after ``start`` (0 or 1 = the start)."""
    begin = max(_whole(start) - 1, 0) if start is not None else 0
    text = _text(haystack)
    if begin > len(text):
        return 0
    return text.find(_text(needle), begin) + 1


def _find(needle: Any, haystack: Any, start: Any = None) -> int:
    """Case-sensitive; 0 when not found."""
    return _position(needle, haystack, start)


def _search(needle: Any, haystack: Any, start: Any = None) -> int | None:
    """Like FIND, but blank when not found (Airtable's only difference between the two)."""
    return _position(needle, haystack, start) or None


# Airtable's REGEX_* functions use RE2. Python's ``re`` accepts every RE2 pattern the sync and ordinary
# formulas use (classes, anchors, groups, ``(?i)``); patterns are compiled once and cached by ``re``.
def _regex(pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(_text(pattern))
    except re.error:
        return _fail()


def _regex_match(value: Any, pattern: Any) -> bool:
    return _regex(pattern).search(_text(value)) is not None


def _regex_extract(value: Any, pattern: Any) -> str | None:
    found = _regex(pattern).search(_text(value))
    return None if found is None else found.group(0)


_GROUP_REFERENCE = re.compile(r"\$(\d+)")


def _regex_replace(value: Any, pattern: Any, replacement: Any) -> str:
    template = _text(replacement)

    def expand(found: re.Match[str]) -> str:  # RE2 writes group references as $1, Python as \1
        return _GROUP_REFERENCE.sub(lambda ref: _group_or_empty(found, int(ref.group(1))), template)

    return _regex(pattern).sub(expand, _text(value))


def _group_or_empty(found: re.Match[str], number: int) -> str:
    return (found.group(number) or "") if number <= (found.re.groups or 0) else ""


def _check_regex_argument(codes: list[_Code]) -> None:
    if len(codes) > 1 and type(codes[1].value) is str:
        try:
            re.compile(codes[1].value)
        except re.error as error:
            raise FormulaError(f"invalid regular expression {codes[1].value!r}: {error}") from None


def _left(value: Any, count: Any) -> str:
    return _text(value)[: max(_whole(count), 0)]


def _right(value: Any, count: Any) -> str:
    wanted = max(_whole(count), 0)
    return _text(value)[-wanted:] if wanted else ""


def _mid(value: Any, start: Any, count: Any) -> str:
    begin = max(_whole(start) - 1, 0)
    return _text(value)[begin : begin + max(_whole(count), 0)]


def _substitute(value: Any, old: Any, new: Any, index: Any = None) -> str:
    text, old_text, new_text = _text(value), _text(old), _text(new)
    if not old_text:
        return text
    if index is None:
        return text.replace(old_text, new_text)
    occurrence, position = _whole(index), -1
    for _ in range(max(occurrence, 0)):
        position = text.find(old_text, position + 1)
        if position < 0:
            return text
    if occurrence < 1:
        return text
    return text[:position] + new_text + text[position + len(old_text) :]


def _replace(value: Any, start: Any, count: Any, replacement: Any) -> str:
    text = _text(value)
    begin = max(_whole(start) - 1, 0)
    return text[:begin] + _text(replacement) + text[begin + max(_whole(count), 0) :]


def _t(value: Any) -> str | None:
    return value if type(value) is str else None


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


def _today(now: datetime) -> datetime:
    return _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------------------------------------
# Compilation: syntax tree → closures
# ---------------------------------------------------------------------------------------------

_NO_VALUE = object()


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
    build: Callable[[tuple[_Node, ...]], _Code] | None = None  # custom compilation (lazy, impure)
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


def _compile(node: _Node) -> _Code:
    if isinstance(node, _Literal):
        return _constant(node.value)
    if isinstance(node, _FieldRef):
        return _Code(_cell_runner(node.name))
    if isinstance(node, _Negate):
        return _apply(_negate, [_compile(node.operand)])
    if isinstance(node, _Binary):
        return _compile_binary(node)
    function = _FUNCTIONS[node.name]
    if function.build is not None:
        return function.build(node.args)
    codes = [_compile(arg) for arg in node.args]
    if function.check is not None:
        function.check(codes)
    assert function.impl is not None
    return _apply(function.impl, codes)


def _compile_binary(node: _Binary) -> _Code:
    return _apply(_BINARY_OPERATORS[node.op], [_compile(node.left), _compile(node.right)])


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


# -- lazy and record-dependent functions ------------------------------------------------------


def _build_if(args: tuple[_Node, ...]) -> _Code:
    condition = _compile(args[0])
    when_true = _compile(args[1])
    when_false = _compile(args[2]) if len(args) > 2 else _constant(None)
    if condition.value is not _NO_VALUE:
        return when_true if _truthy(condition.value) else when_false
    test, yes, no = condition.run, when_true.run, when_false.run
    return _Code(lambda ctx, now: yes(ctx, now) if _truthy(test(ctx, now)) else no(ctx, now))


def _build_and(args: tuple[_Node, ...]) -> _Code:
    codes = [_compile(arg) for arg in args]
    runs = [code.run for code in codes]

    def run(ctx: Any, now: datetime) -> bool:
        return all(_truthy(part(ctx, now)) for part in runs)

    return _fold(run) if all(code.constant for code in codes) else _Code(run)


def _build_or(args: tuple[_Node, ...]) -> _Code:
    codes = _or_operands(args)
    runs = [code.run for code in codes]

    def run(ctx: Any, now: datetime) -> bool:
        return any(_truthy(part(ctx, now)) for part in runs)

    return _fold(run) if all(code.constant for code in codes) else _Code(run)


def _or_operands(args: tuple[_Node, ...]) -> list[_Code]:
    """Equalities of one subject with literal texts (``X='a', X='b', …``) merge into a set lookup."""
    texts_by_subject: dict[_Node, list[str]] = {}
    order: list[_Node | tuple[_Node]] = []
    for arg in args:
        pair = _equality_with_text(arg)
        if pair is None:
            order.append(arg)
            continue
        subject, text = pair
        if subject not in texts_by_subject:
            texts_by_subject[subject] = []
            order.append((subject,))
        texts_by_subject[subject].append(text)
    codes: list[_Code] = []
    for item in order:
        if isinstance(item, tuple):
            subject = item[0]
            codes.append(_membership(_compile(subject), texts_by_subject[subject]))
        else:
            codes.append(_compile(item))
    return codes


def _equality_with_text(node: _Node) -> tuple[_Node, str] | None:
    if not isinstance(node, _Binary) or node.op != "=":
        return None
    for subject, other in ((node.left, node.right), (node.right, node.left)):
        if isinstance(other, _Literal) and type(other.value) is str and not isinstance(subject, _Literal):
            return subject, other.value
    return None


def _membership(subject: _Code, texts: list[str]) -> _Code:
    if len(texts) == 1:
        return _apply(_equals, [subject, _constant(texts[0])])
    wanted, ordered, read = frozenset(texts), tuple(texts), subject.run

    def run(ctx: Any, now: datetime) -> bool:
        value = read(ctx, now)
        if type(value) is str:
            return value in wanted  # text = text is exact, so a set lookup decides it
        return any(_equals(value, text) for text in ordered)

    return _fold(run) if subject.constant else _Code(run)


def _build_switch(args: tuple[_Node, ...]) -> _Code:
    codes = [_compile(arg) for arg in args]
    subject, rest = codes[0].run, codes[1:]
    default = rest.pop().run if len(rest) % 2 else None
    cases = [(rest[i].run, rest[i + 1].run) for i in range(0, len(rest), 2)]

    def run(ctx: Any, now: datetime) -> Any:
        value = subject(ctx, now)
        for pattern, result in cases:
            if _equals(value, pattern(ctx, now)):
                return result(ctx, now)
        return default(ctx, now) if default is not None else None

    return _fold(run) if all(code.constant for code in codes) else _Code(run)


def _build_iserror(args: tuple[_Node, ...]) -> _Code:
    inner = _compile(args[0])
    probe = inner.run

    def run(ctx: Any, now: datetime) -> bool:
        try:
            probe(ctx, now)
        except _ErrorSignal:
            return True
        except FormulaError:
            raise
        except (ArithmeticError, ValueError):
            return True
        return False

    return _fold(run) if inner.constant else _Code(run)


def _build_error(args: tuple[_Node, ...]) -> _Code:
    return _constant_error(GENERIC_ERROR)


def _build_constant(value: Any) -> Callable[[tuple[_Node, ...]], _Code]:
    return lambda args: _constant(value)


def _build_record_id(args: tuple[_Node, ...]) -> _Code:
    return _Code(lambda ctx, now: ctx.record_id)


def _build_created_time(args: tuple[_Node, ...]) -> _Code:
    return _Code(lambda ctx, now: ctx.created_time)


def _build_last_modified_time(args: tuple[_Node, ...]) -> _Code:
    """With field arguments Airtable narrows to those fields; the sandbox keeps one time per record."""
    for arg in args:
        if not isinstance(arg, _FieldRef):
            raise FormulaError("LAST_MODIFIED_TIME() accepts only field references, e.g. {Name}")
    return _Code(lambda ctx, now: ctx.last_modified_time)


def _build_now(args: tuple[_Node, ...]) -> _Code:
    return _Code(lambda ctx, now: _utc(now))


def _build_today(args: tuple[_Node, ...]) -> _Code:
    return _Code(lambda ctx, now: _today(now))


def _build_datetime_parse(args: tuple[_Node, ...]) -> _Code:
    """Folds at parse time unless the format lacks a year (then "today" fills it in, as moment does)."""
    codes = [_compile(arg) for arg in args]
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


_FUNCTIONS: dict[str, _Function] = {
    # logic
    "AND": _Function(1, None, build=_build_and),
    "OR": _Function(1, None, build=_build_or),
    "NOT": _Function(1, 1, impl=_not),
    "XOR": _Function(1, None, impl=_xor),
    "IF": _Function(2, 3, build=_build_if),
    "SWITCH": _Function(3, None, build=_build_switch),
    "TRUE": _Function(0, 0, build=_build_constant(True)),
    "FALSE": _Function(0, 0, build=_build_constant(False)),
    "BLANK": _Function(0, 0, build=_build_constant(None)),
    "ERROR": _Function(0, 0, build=_build_error),
    "ISERROR": _Function(1, 1, build=_build_iserror),
    # record
    "RECORD_ID": _Function(0, 0, build=_build_record_id),
    "CREATED_TIME": _Function(0, 0, build=_build_created_time),
    "LAST_MODIFIED_TIME": _Function(0, None, build=_build_last_modified_time),
    # dates
    "DATETIME_PARSE": _Function(1, 3, build=_build_datetime_parse),
    "IS_AFTER": _Function(2, 2, impl=_is_after),
    "IS_BEFORE": _Function(2, 2, impl=_is_before),
    "IS_SAME": _Function(2, 3, impl=_is_same, check=_check_unit_at(2)),
    "DATETIME_DIFF": _Function(2, 3, impl=_datetime_diff, check=_check_unit_at(2)),
    "DATEADD": _Function(3, 3, impl=_date_add, check=_check_unit_at(2)),
    "NOW": _Function(0, 0, build=_build_now),
    "TODAY": _Function(0, 0, build=_build_today),
    "DATETIME_FORMAT": _Function(1, 2, impl=_datetime_format, check=_check_output_format_argument),
    # text
    "LEN": _Function(1, 1, impl=_len),
    "LOWER": _Function(1, 1, impl=_lower),
    "UPPER": _Function(1, 1, impl=_upper),
    "TRIM": _Function(1, 1, impl=_trim),
    "CONCATENATE": _Function(1, None, impl=_concatenate),
    "FIND": _Function(2, 3, impl=_find),
    "SEARCH": _Function(2, 3, impl=_search),
    "REGEX_MATCH": _Function(2, 2, impl=_regex_match, check=_check_regex_argument),
    "REGEX_EXTRACT": _Function(2, 2, impl=_regex_extract, check=_check_regex_argument),
    "REGEX_REPLACE": _Function(3, 3, impl=_regex_replace, check=_check_regex_argument),
    "LEFT": _Function(2, 2, impl=_left),
    "RIGHT": _Function(2, 2, impl=_right),
    "MID": _Function(3, 3, impl=_mid),
    "SUBSTITUTE": _Function(3, 4, impl=_substitute),
    "REPLACE": _Function(4, 4, impl=_replace),
    "T": _Function(1, 1, impl=_t),
    "VALUE": _Function(1, 1, impl=_value),
    # numbers
    "ROUND": _Function(1, 2, impl=_round),
    "ROUNDUP": _Function(1, 2, impl=_roundup),
    "ROUNDDOWN": _Function(1, 2, impl=_rounddown),
    "INT": _Function(1, 1, impl=_int),
    "ABS": _Function(1, 1, impl=_abs),
    "MOD": _Function(2, 2, impl=_mod),
    "SUM": _Function(1, None, impl=_sum),
    "MIN": _Function(1, None, impl=_min),
    "MAX": _Function(1, None, impl=_max),
    "AVERAGE": _Function(1, None, impl=_average),
    "COUNT": _Function(1, None, impl=_count),
    "COUNTA": _Function(1, None, impl=_counta),
    "COUNTALL": _Function(1, None, impl=_countall),
    # arrays
    "ARRAYJOIN": _Function(1, 2, impl=_arrayjoin),
    "ARRAYUNIQUE": _Function(1, 1, impl=_arrayunique),
    "ARRAYCOMPACT": _Function(1, 1, impl=_arraycompact),
    "ARRAYFLATTEN": _Function(1, 1, impl=_arrayflatten),
}

SUPPORTED_FUNCTIONS: frozenset[str] = frozenset(_FUNCTIONS)
