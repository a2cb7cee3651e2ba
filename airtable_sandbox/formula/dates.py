"""Dates: ISO parsing, time units, date arithmetic and comparisons."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from airtable_sandbox.formula.errors import _fail
from airtable_sandbox.formula.values import _number, _text


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
