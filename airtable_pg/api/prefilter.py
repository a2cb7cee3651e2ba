"""A SQL pre-filter for ``filterByFormula``: a condition every matching row meets, so Postgres skips the others.

The formula engine stays the judge: every row the pre-filter lets through is still evaluated by
:mod:`airtable_formula`, so the API and the sandbox answer alike by construction. The pre-filter only has to be
*necessary* (a row it drops could never match), never sufficient, which keeps it small and provably safe. It comes
from the parts of a formula whose truth needs something Postgres can test on the stored record-read cells:

- ``{Field}`` alone is true only for a non-blank cell: the cell is present in ``fields``.
- ``{Field} = 'text'`` (text not empty): a blank cell reads as ``""``, so the cell is present; and a cell stored as
  a JSON string equals the text exactly (text = text is exact in the engine, and a deterministic collation's
  equality is byte equality). Numbers, lists and objects compare by the engine's conversions, so they pass.
- ``RECORD_ID() = 'rec…'``: the row's ``airtable_id``.
- ``AND(…)``: every argument's condition; ``OR(…)``: any argument's, and only when each argument has one.
  Equalities of one subject with several texts (pyairtable's ``OR(RECORD_ID()='a', …)``) become ``= any(array)``.

Anything else constrains nothing (``{n} < 5`` is true for a blank cell, ``NOT`` inverts, functions transform).
A text Postgres cannot hold (NUL) constrains nothing either: the engine alone decides it.
"""

from __future__ import annotations

from psycopg import sql

from airtable_formula import Formula
from airtable_formula.nodes import Binary, Call, FieldRef, Literal, Node
from airtable_pg.api.tables import ServedTable
from airtable_pg.postgres.api_reads import Condition

RECORD_ID = ("record_id",)  # the equality subject RECORD_ID(); a cell's subject is ("cell", field id)


def necessary_condition(formula: Formula, served: ServedTable) -> Condition | None:
    """A condition on the API's mirror source (columns ``airtable_id``, ``fields``) that every match meets, or
    ``None`` when the formula's shape gives none."""
    try:
        return _truth(formula.tree, served)
    except RecursionError:  # AND/OR nested past Python's stack: the engine alone decides, as before
        return None


def _truth(node: Node, served: ServedTable) -> Condition | None:
    if isinstance(node, FieldRef):
        spec = served.field(node.name)
        return Condition(sql.SQL("fields ? %s"), (spec.id,)) if spec is not None else None
    equality = _text_equality(node, served)
    if equality is not None:
        subject, text = equality
        return _equal_to_any(subject, [text])
    if isinstance(node, Call) and node.name == "AND":
        parts = [part for part in (_truth(arg, served) for arg in node.args) if part is not None]
        return _joined(parts, "and") if parts else None
    if isinstance(node, Call) and node.name == "OR":
        return _any_of(node.args, served)
    return None


def _joined(parts: list[Condition], operator: str) -> Condition:
    text = sql.SQL("({})").format(sql.SQL(f" {operator} ").join(part.text for part in parts))
    return Condition(text, tuple(value for part in parts for value in part.params))


def _any_of(args: tuple[Node, ...], served: ServedTable) -> Condition | None:
    texts_by_subject: dict[tuple[str, ...], list[str]] = {}
    parts: list[Condition] = []
    for arg in args:
        equality = _text_equality(arg, served)
        if equality is not None:
            texts_by_subject.setdefault(equality[0], []).append(equality[1])
            continue
        part = _truth(arg, served)
        if part is None:  # one argument may be true of any row: so may the OR
            return None
        parts.append(part)
    parts += [_equal_to_any(subject, texts) for subject, texts in texts_by_subject.items()]
    return _joined(parts, "or")


def _text_equality(node: Node, served: ServedTable) -> tuple[tuple[str, ...], str] | None:
    """``(subject, text)`` for ``subject = 'text'`` (either side) with a non-empty text Postgres can hold."""
    if not isinstance(node, Binary) or node.op != "=":
        return None
    for one, other in ((node.left, node.right), (node.right, node.left)):
        if not (isinstance(other, Literal) and type(other.value) is str and other.value):
            continue
        if "\x00" in other.value or not _encodable(other.value):
            return None
        if isinstance(one, Call) and one.name == "RECORD_ID":
            return RECORD_ID, other.value
        if isinstance(one, FieldRef):
            spec = served.field(one.name)
            if spec is not None:
                return ("cell", spec.id), other.value
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _equal_to_any(subject: tuple[str, ...], texts: list[str]) -> Condition:
    if subject == RECORD_ID:
        return Condition(sql.SQL("airtable_id = any(%s::text[])"), (texts,))
    field_id = subject[1]
    text = sql.SQL("(fields ? %s and (jsonb_typeof(fields -> %s) <> 'string' or fields ->> %s = any(%s::text[])))")
    return Condition(text, (field_id, field_id, field_id, texts))
