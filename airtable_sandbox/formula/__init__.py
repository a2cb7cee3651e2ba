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

from airtable_sandbox.formula.code import RecordContext
from airtable_sandbox.formula.compiled import Formula, parse
from airtable_sandbox.formula.errors import ErrorValue, FormulaError
from airtable_sandbox.formula.functions import SUPPORTED_FUNCTIONS
from airtable_sandbox.formula.values import to_cell_value

__all__ = [
    "SUPPORTED_FUNCTIONS",
    "ErrorValue",
    "Formula",
    "FormulaError",
    "RecordContext",
    "parse",
    "to_cell_value",
]
