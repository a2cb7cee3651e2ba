"""How every command reports: exit codes, one line per failure on stderr, secrets scrubbed from both."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airtable_pg.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:  # a command imports only what it uses: `airtable-pg sandbox` starts without the engines
    from airtable_pg.runtime import Runtime
    from airtable_pg.spec import SyncSpec

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_secrets: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Values no output of this process may show (tokens, passwords), replaced by ``***``."""
    _secrets.update(v for v in values if v and len(v) >= 4)


def scrub(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def fail(command: str, message: str) -> None:
    """One line on stderr, never wrapped: logs and CI keep each failure on its own line."""
    one_line = " ".join(scrub(message).split())
    print(f"airtable-pg {command}: {one_line}", file=sys.stderr, flush=True)


def note(command: str, message: str) -> None:
    """Something the user should know (which settings are in effect), on stderr so stdout stays data."""
    print(f"airtable-pg {command}: {scrub(message)}", file=sys.stderr, flush=True)


def command_settings(command: str) -> Settings:
    """The settings a command runs with; says so when they come from a running ``airtable-pg dev``."""
    settings = load_settings()
    register_secrets(settings.secrets())
    if settings.dev_stack_note:
        note(command, settings.dev_stack_note)
    return settings


def announce_database(command: str, settings: Settings, url: str, *, role: str = "runtime") -> None:
    """One line on stderr: which environment and database (password masked) the command works on."""
    from airtable_pg.postgres.database import redact

    embedded = " (embedded server)" if settings.selected_database_url is None else ""
    note(command, f"environment {settings.environment}: {role} database {redact(url)}{embedded}")


def runtime_database(command: str, settings: Settings) -> str:
    """The selected environment's database for runtime work: announced, and refused while migrations are pending
    (``MigrationsPending``, exit 2): the runtime never migrates."""
    from airtable_pg.postgres.database import database_url
    from airtable_pg.postgres.migrate import mirror_versions
    from airtable_pg.postgres.revisions import require_migrated

    url = database_url(settings)
    announce_database(command, settings, url)
    require_migrated(url, mirror_versions(settings))
    return url


def command_runtime(command: str, settings: Settings, *, spec: SyncSpec | None = None) -> Runtime:
    """The runtime a command works with (:mod:`airtable_pg.runtime`), on the database ``runtime_database`` gives."""
    from airtable_pg.runtime import Runtime

    return Runtime.from_settings(settings, database_url=runtime_database(command, settings), spec=spec)


DEBUG_VARIABLE = "AIRTABLE_PG_DEBUG"  # set by `airtable-pg --debug`: tracebacks are printed


def command(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Make a command's ``main`` report every failure as one line and a documented exit code."""

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                return int(main(*args, **kwargs) or EXIT_OK)
            except KeyboardInterrupt:
                fail(name, "interrupted")
                return EXIT_INTERRUPTED
            except SystemExit:
                raise  # argparse's own usage errors (exit 2) and --help (exit 0)
            except Exception as error:  # noqa: BLE001 - every failure is one line and an exit code
                if os.environ.get(DEBUG_VARIABLE):
                    traceback.print_exc()
                known = known_failure(error)
                if known is not None:
                    fail(name, known.message)
                    return known.exit_code
                fail(name, f"{type(error).__name__}: {error} (run `airtable-pg --debug {name} …` for the traceback)")
                return EXIT_FAILED

        return run

    return decorate


@dataclass(frozen=True)
class KnownFailure:
    message: str
    exit_code: int


def known_failure(error: BaseException) -> KnownFailure | None:
    """A one-line reason and exit code for the failures a user can act on; ``None`` for the unexpected."""
    from airtable_pg.airtable.errors import AirtableAuthError, AirtableError
    from airtable_pg.postgres.errors import DatabaseUnavailable, SchemaNotReady, describe_database_error
    from airtable_pg.spec import SpecError, UnknownTable

    if isinstance(error, ConfigError | SpecError | SchemaNotReady | UnknownTable):
        return KnownFailure(str(error), EXIT_USAGE)
    if isinstance(error, AirtableAuthError):
        return KnownFailure(str(error), EXIT_USAGE)
    if isinstance(error, AirtableError | DatabaseUnavailable):
        return KnownFailure(str(error), EXIT_FAILED)
    database = describe_database_error(error)
    if database is not None:
        return KnownFailure(database, EXIT_FAILED)
    try:
        from alembic.util import CommandError
    except ImportError:  # pragma: no cover - alembic is a dependency
        return None
    if isinstance(error, CommandError):
        hint = " (run `airtable-pg db upgrade` first)" if "not up to date" in str(error) else ""
        return KnownFailure(f"migrations: {error}{hint}", EXIT_USAGE)
    return None
