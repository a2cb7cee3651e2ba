"""The syntax tree a parsed formula is made of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
