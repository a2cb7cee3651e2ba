"""Text functions, regular expressions included."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airtable_sandbox.formula.errors import FormulaError, _fail
from airtable_sandbox.formula.values import _text, _whole

if TYPE_CHECKING:
    from airtable_sandbox.formula.code import _Code


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
