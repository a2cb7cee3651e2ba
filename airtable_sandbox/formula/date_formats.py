"""moment.js date formats: DATETIME_FORMAT output and DATETIME_PARSE input."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from airtable_sandbox.clock import iso_millis
from airtable_sandbox.formula.dates import _date, _parse_iso, _utc
from airtable_sandbox.formula.errors import FormulaError, _fail
from airtable_sandbox.formula.values import _text

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
