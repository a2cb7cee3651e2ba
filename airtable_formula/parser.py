"""Formula text to syntax tree: a tokenizer and a precedence-climbing parser that checks function names and arity."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from airtable_formula.errors import FormulaError
from airtable_formula.functions import _FUNCTIONS
from airtable_formula.nodes import Binary, Call, FieldRef, Literal, Negate

if TYPE_CHECKING:
    from airtable_formula.code import _Function
    from airtable_formula.nodes import Node


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
        self.functions: set[str] = set()  # every function called, upper-case
        self.tokens = _tokenize(source)
        self.index = 0

    def parse(self) -> Node:
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

    def expression(self, min_precedence: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            precedence = _PRECEDENCE.get(token.text, 0) if token.kind == "op" else 0
            if precedence < min_precedence:  # 0 for anything that is not a binary operator
                return left
            self.advance()
            left = Binary(token.text, left, self.expression(precedence + 1))

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text == "-":
            self.advance()
            return Negate(self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.advance()
        if token.kind == "number":
            return Literal(_number_value(token.text))
        if token.kind == "string":
            return Literal(_string_value(token.text))
        if token.kind == "field":
            return self.field_ref(token)
        if token.kind == "name":
            return self.call(token)
        if token.kind == "op" and token.text == "(":
            node = self.expression(1)
            self.expect(")")
            return node
        raise self.unexpected(token)

    def field_ref(self, token: _Token) -> FieldRef:
        name = token.text[1:-1].replace("\\}", "}")
        if not name:
            raise FormulaError(f"Empty field reference {{}} at character {token.position}")
        self.field_refs.add(name)
        return FieldRef(name)

    def call(self, token: _Token) -> Call:
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
        self.functions.add(name)
        return Call(name, tuple(args))

    def arguments(self) -> list[Node]:
        args: list[Node] = []
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
