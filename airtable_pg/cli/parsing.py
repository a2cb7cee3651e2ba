"""Argument parsers that explain themselves: every leaf ``--help`` has a description and shows each default.

Every command module builds its parser in ``build_parser()`` (no settings, no database), so the docs' commands can
be checked against the real parsers (``airtable_pg_tests/cli/test_documented_commands.py``) without running them.
"""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: …)`` to an option's help when it has a meaningful default the text does not state.

    argparse's own ArgumentDefaultsHelpFormatter also prints ``(default: False)`` for flags and ``None`` for
    unset options, which says nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or default == []
            or isinstance(action, argparse._HelpAction | argparse._StoreTrueAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


def command_parser(
    prog: str, description: str, *, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
) -> argparse.ArgumentParser:
    return parser_class(prog=prog, description=description, formatter_class=HelpFormatter)


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return parser.add_subparsers(dest="action", required=True)


def subcommand(sub: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    """A leaf command whose ``--help`` repeats the one-line help it has in its parent's list."""
    return sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)


def leaf_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every parser that parses options (the command itself when it has no subcommands), by its prog."""
    children = [
        child
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for child in dict.fromkeys(action.choices.values())
    ]
    if not children:
        return {parser.prog: parser}
    return {prog: leaf for child in children for prog, leaf in leaf_parsers(child).items()}
