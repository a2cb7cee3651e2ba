"""Syntax tree to closures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airtable_formula.code import _apply, _cell_runner, _Code, _constant
from airtable_formula.functions import _FUNCTIONS
from airtable_formula.nodes import Binary, FieldRef, Literal, Negate
from airtable_formula.operators import _BINARY_OPERATORS, _negate

if TYPE_CHECKING:
    from airtable_formula.nodes import Node


def _compile(node: Node) -> _Code:
    if isinstance(node, Literal):
        return _constant(node.value)
    if isinstance(node, FieldRef):
        return _Code(_cell_runner(node.name))
    if isinstance(node, Negate):
        return _apply(_negate, [_compile(node.operand)])
    if isinstance(node, Binary):
        return _compile_binary(node)
    function = _FUNCTIONS[node.name]
    if function.build is not None:
        return function.build(node.args, _compile)
    codes = [_compile(arg) for arg in node.args]
    if function.check is not None:
        function.check(codes)
    assert function.impl is not None
    return _apply(function.impl, codes)


def _compile_binary(node: Binary) -> _Code:
    return _apply(_BINARY_OPERATORS[node.op], [_compile(node.left), _compile(node.right)])
