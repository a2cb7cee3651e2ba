"""Logical functions; IF, AND, OR, SWITCH and ISERROR compile their arguments lazily."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airtable_formula.code import _NO_VALUE, _apply, _Code, _constant, _constant_error, _fold
from airtable_formula.errors import GENERIC_ERROR, FormulaError, _ErrorSignal
from airtable_formula.nodes import Binary, Literal
from airtable_formula.operators import _equals
from airtable_formula.values import _truthy

if TYPE_CHECKING:
    from airtable_formula.code import Builder, NodeCompiler
    from airtable_formula.nodes import Node


def _not(value: Any) -> bool:
    return not _truthy(value)


def _xor(*values: Any) -> bool:
    return sum(1 for value in values if _truthy(value)) % 2 == 1


def _build_if(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    condition = compile_node(args[0])
    when_true = compile_node(args[1])
    when_false = compile_node(args[2]) if len(args) > 2 else _constant(None)
    if condition.value is not _NO_VALUE:
        return when_true if _truthy(condition.value) else when_false
    test, yes, no = condition.run, when_true.run, when_false.run
    return _Code(lambda ctx, now: yes(ctx, now) if _truthy(test(ctx, now)) else no(ctx, now))


def _build_and(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    codes = [compile_node(arg) for arg in args]
    runs = [code.run for code in codes]

    def run(ctx: Any, now: datetime) -> bool:
        return all(_truthy(part(ctx, now)) for part in runs)

    return _fold(run) if all(code.constant for code in codes) else _Code(run)


def _build_or(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    codes = _or_operands(args, compile_node)
    runs = [code.run for code in codes]

    def run(ctx: Any, now: datetime) -> bool:
        return any(_truthy(part(ctx, now)) for part in runs)

    return _fold(run) if all(code.constant for code in codes) else _Code(run)


def _or_operands(args: tuple[Node, ...], compile_node: NodeCompiler) -> list[_Code]:
    """Equalities of one subject with literal texts (``X='a', X='b', …``) merge into a set lookup."""
    texts_by_subject: dict[Node, list[str]] = {}
    order: list[Node | tuple[Node]] = []
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
            codes.append(_membership(compile_node(subject), texts_by_subject[subject]))
        else:
            codes.append(compile_node(item))
    return codes


def _equality_with_text(node: Node) -> tuple[Node, str] | None:
    if not isinstance(node, Binary) or node.op != "=":
        return None
    for subject, other in ((node.left, node.right), (node.right, node.left)):
        if isinstance(other, Literal) and type(other.value) is str and not isinstance(subject, Literal):
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


def _build_switch(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    codes = [compile_node(arg) for arg in args]
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


def _build_iserror(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    inner = compile_node(args[0])
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


def _build_error(args: tuple[Node, ...], compile_node: NodeCompiler) -> _Code:
    return _constant_error(GENERIC_ERROR)


def _build_constant(value: Any) -> Builder:
    return lambda args, compile_node: _constant(value)
