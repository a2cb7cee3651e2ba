"""Syntax tree to closures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airtable_sandbox.formula.code import _apply, _cell_runner, _Code, _constant
from airtable_sandbox.formula.functions import _FUNCTIONS
from airtable_sandbox.formula.nodes import _Binary, _FieldRef, _Literal, _Negate
from airtable_sandbox.formula.operators import _BINARY_OPERATORS, _negate

if TYPE_CHECKING:
    from airtable_sandbox.formula.nodes import _Node


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
        return function.build(node.args, _compile)
    codes = [_compile(arg) for arg in node.args]
    if function.check is not None:
        function.check(codes)
    assert function.impl is not None
    return _apply(function.impl, codes)


def _compile_binary(node: _Binary) -> _Code:
    return _apply(_BINARY_OPERATORS[node.op], [_compile(node.left), _compile(node.right)])
