"""The shell commands the README and docs/*.md print, as a reader would copy them.

Copyable blocks are fenced ``bash``/``sh``/``shell``/``console`` blocks (every line is a command; ``\\``
continues a line), plain fenced blocks (transcripts: only ``$ `` lines are commands, the rest is output) and the
``ExecStart=`` lines of ``ini`` blocks (systemd units).
Each command line is split the way a POSIX shell does (``shlex``, comments dropped) into simple commands at
``&&``, ``||``, ``;`` and ``|``; an ``airtable-pg`` invocation or a ``make`` target is what the tests check.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_LANGUAGES = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w-]*)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"&&", "||", ";", "|"}


@dataclass(frozen=True)
class DocCommand:
    path: Path
    line: int
    text: str  # the command line as printed
    env: dict[str, str]  # VAR=value assignments before the program
    program: str  # as printed: `.venv/bin/airtable-pg`, `airtable-pg`, `make`
    args: list[str]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"

    @property
    def is_airtable_pg(self) -> bool:
        return Path(self.program).name == "airtable-pg"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[tuple[str, int, list[str]]]:
    """Fenced blocks: (language, first line number, lines)."""
    found: list[tuple[str, int, list[str]]] = []
    current: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(line)
        if fence and current is None:
            current = (fence["language"], number + 1, [])
        elif fence and current is not None:
            found.append(current)
            current = None
        elif current is not None:
            current[2].append(line)
    return found


def command_lines(language: str, first: int, lines: list[str]) -> list[tuple[int, str]]:
    """The lines of a block a reader runs, continuations joined."""
    if language == "ini":
        return [(first + i, line.strip().removeprefix("ExecStart="))
                for i, line in enumerate(lines) if line.strip().startswith("ExecStart=")]  # fmt: skip
    if language not in SCRIPT_LANGUAGES and language != "":
        return []
    transcript = language == "" or any(line.lstrip().startswith("$ ") for line in lines)
    picked: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for offset, raw in enumerate(lines):
        line = raw.strip()
        if pending is not None:
            line = pending[1] + " " + line
            number = pending[0]
        else:
            if transcript:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            number = first + offset
        if line.endswith("\\"):
            pending = (number, line[:-1].rstrip())
            continue
        pending = None
        if line and not line.startswith("#"):
            picked.append((number, line))
    return picked


def simple_commands(text: str) -> list[list[str]]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def doc_commands() -> list[DocCommand]:
    found = []
    for path in documents():
        for language, first, lines in blocks(path):
            for number, text in command_lines(language, first, lines):
                for words in simple_commands(text):
                    env: dict[str, str] = {}
                    while words and _ASSIGNMENT.match(words[0]):
                        name, _, value = words.pop(0).partition("=")
                        env[name] = value
                    if words and (Path(words[0]).name == "airtable-pg" or words[0] == "make"):
                        found.append(DocCommand(path, number, text, env, words[0], words[1:]))
    return found
