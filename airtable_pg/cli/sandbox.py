"""``airtable-pg sandbox``: the Airtable sandbox on its own (its options live with the sandbox, which imports
nothing of the product)."""

from __future__ import annotations

from airtable_sandbox.main import build_parser, run_sandbox

__all__ = ["build_parser", "main"]


def main(argv: list[str]) -> int:
    return run_sandbox(argv)
