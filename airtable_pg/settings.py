"""Every setting of airtable_pg, read from the environment once, typed and validated.

Each command, the Dagster code location and the benchmarks build one :class:`Settings` (``load_settings()``)
and pass it down; nothing else reads ``os.environ`` for configuration. Secrets (the Airtable token, database
URLs that may hold a password) are ``SecretStr``: their repr is ``**********`` and only the code that
connects unwraps them.

When the environment names neither a database nor an Airtable endpoint and ``airtable-pg dev`` is running,
its ``$AIRTABLE_PG_HOME/dev.json`` fills them in (the sandbox's random port and token, the embedded
server's socket), so every command works in a second terminal beside ``make dev``. ``Settings.dev_stack``
then names that file, and commands say they use it.

The README's configuration table is generated from the field descriptions here (``airtable-pg config
--markdown``), and a test keeps the two identical.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from airtable_pg.names import DAGSTER_PREFIX

DEFAULT_API_URL = "https://api.airtable.com"
DEV_STACK_FILE = "dev.json"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://")
# The variables whose absence lets a running dev stack's dev.json speak: if any is set, the user chose.
_DEV_STACK_KEYS = {"database_url": "DATABASE_URL", "airtable_api_url": "AIRTABLE_API_URL",
                   "airtable_api_key": "AIRTABLE_API_KEY"}  # fmt: skip


_DEV_STACK_DAGSTER = {"dagster_home": "DAGSTER_HOME", "dagster_pg_url": "DAGSTER_PG_URL"}


_DATABASE_URLS = ("database_url", "database_url_staging", "database_migration_url", "database_migration_url_staging")
# The environment a Settings is being read from (load_settings(env=...)); None: the process's own.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("airtable_pg_environ", default=None)


MISSING_API_KEY = (
    "AIRTABLE_API_KEY is not set (a personal access token with data.records:read and schema.bases:read), "
    "and no `airtable-pg dev` is running to lend its sandbox"
)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable (never its secret value)."""


def _env(name: str, *, description: str, default_text: str | None = None, **kwargs: Any) -> Any:
    """A field read from the environment variable ``name``, described for the README's table."""
    extra = {"env": name}
    if default_text is not None:
        extra["default_text"] = default_text
    return Field(validation_alias=AliasChoices(name), description=description, json_schema_extra=extra, **kwargs)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True, case_sensitive=True)

    environment: Literal["production", "staging"] = _env(
        "AIRTABLE_PG_ENV",
        default="production",
        description="Which environment's database every command, the receiver and the code location use: "
        "`production` (`DATABASE_URL`, `DATABASE_MIGRATION_URL`) or `staging` (the `…_STAGING` ones; "
        "`airtable-pg --env staging …` sets it). Nothing else differs between them.",
    )
    database_url: SecretStr | None = _env(
        "DATABASE_URL",
        default=None,
        default_text="embedded server",
        description="Postgres to use (`postgresql://user:pass@host:5432/db`), as the runtime role. TLS: add libpq "
        "parameters, e.g. `?sslmode=verify-full&sslrootcert=/path/ca.pem`. Without it, an embedded PostgreSQL "
        "starts with its data in `$AIRTABLE_PG_HOME/pgdata`.",
    )
    database_url_staging: SecretStr | None = _env(
        "DATABASE_URL_STAGING",
        default=None,
        default_text="none",
        description="The staging environment's database (`AIRTABLE_PG_ENV=staging`): required there; staging "
        "never falls back to production's database or the embedded one.",
    )
    database_migration_url: SecretStr | None = _env(
        "DATABASE_MIGRATION_URL",
        default=None,
        default_text="`DATABASE_URL`",
        description="The same database as the migration role: what `airtable-pg db upgrade / downgrade / "
        "revision / check / current` connect with.",
    )
    database_migration_url_staging: SecretStr | None = _env(
        "DATABASE_MIGRATION_URL_STAGING",
        default=None,
        default_text="`DATABASE_URL_STAGING`",
        description="Staging's database as the migration role.",
    )
    airtable_api_key: SecretStr | None = _env(
        "AIRTABLE_API_KEY",
        default=None,
        default_text="sandbox token",
        description="Airtable personal access token. When set, `make dev` does **not** start the sandbox and "
        "uses the real API.",
    )
    airtable_api_url: str = _env(
        "AIRTABLE_API_URL",
        default=DEFAULT_API_URL,
        description="Airtable endpoint (the sandbox's URL, or any compatible endpoint).",
    )
    spec_path: Path | None = _env(
        "AIRTABLE_PG_SPEC",
        default=None,
        default_text="the demo spec shipped in the package",
        description="The sync spec (YAML) to use.",
    )
    home: Path = _env(
        "AIRTABLE_PG_HOME",
        default=Path(".airtable_pg"),
        default_text="`./.airtable_pg`",
        description="Where the embedded Postgres and local state (`dev.json` of a running `make dev`) live.",
    )
    migrations_path: Path | None = _env(
        "AIRTABLE_PG_MIGRATIONS",
        default=None,
        default_text="the demo's, shipped in the package",
        description="Your Alembic revisions of the mirror tables (a spec of your own needs its own directory); "
        "the `airtable_sync` state schema's revisions always come from the package.",
    )
    requests_per_second: float = _env(
        "AIRTABLE_PG_RATE_LIMIT",
        default=5.0,
        gt=0,
        description="Requests per second per base (Airtable's limit); shared by every process using the same database.",
    )
    token_requests_per_second: float = _env(
        "AIRTABLE_PG_TOKEN_RATE_LIMIT",
        default=50.0,
        ge=0,
        description="Requests per second of one Airtable token across all its bases (Airtable's limit): a bucket "
        "per token (by a fingerprint, never the token) beside the per-base ones, shared by every process using the "
        "same database; when many bases sync at once, each active base gets an equal turn. `0`: no per-token bucket.",
    )
    penalty_seconds: float = _env(
        "AIRTABLE_PG_PENALTY_SECONDS",
        default=30.0,
        ge=0,
        description="How long to stop after a 429 (Airtable's penalty).",
    )
    rate_margin_ms: float = _env(
        "AIRTABLE_PG_RATE_MARGIN_MS",
        default=8.0,
        ge=0,
        description="Added to the 200 ms between request slots. Raise it (e.g. to 20–40) if your network to "
        "Airtable is jittery and you ever see 429s: each one stops the base for 30 s.",
    )
    fast_lane_share: float = _env(
        "AIRTABLE_PG_FAST_LANE_SHARE",
        default=1.0,
        ge=0,
        description="Requests per second of each base's limit held for fast-lane tables (the users): one request "
        "slot in every `AIRTABLE_PG_RATE_LIMIT / share` (default one in five) is theirs, so a backfill never "
        "queues them; a held slot the fast lane does not use goes to the backfill. `0`: one queue for all. "
        "Every process on the same database must use the same value.",
    )
    workers: int = _env(
        "AIRTABLE_PG_WORKERS",
        default=8,
        ge=1,
        description="Requests in flight per sync (they overlap Airtable's latency; the rate limit still holds).",
    )
    shadow_share: float = _env(
        "AIRTABLE_PG_SHADOW_SHARE",
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Of the API's reads of an entity in `shadow`, the share whose mirror answer is compared with "
        "Airtable's (off the request path; 1: every one).",
    )
    api_write_wait_seconds: float = _env(
        "AIRTABLE_PG_API_WRITE_WAIT_SECONDS",
        default=10.0,
        ge=0.0,
        description="How long `airtable-pg api` waits for Airtable's answer to the outbox push of a write to a "
        "Postgres-authoritative table before answering: a create needs Airtable's record id (past the wait: 503, "
        "the write saved and queued; the same request again answers it without writing twice).",
    )
    receiver_url: str | None = _env(
        "AIRTABLE_PG_RECEIVER_URL",
        default=None,
        default_text="none: payloads are polled",
        description="The public HTTPS URL of `airtable-pg receiver`'s `/airtable/webhook` that Airtable pings. "
        "Without it, hooks send no pings and `airtable-pg webhooks apply --follow` polls their payloads.",
    )
    outbound_max_attempts: int = _env(
        "AIRTABLE_PG_OUTBOUND_MAX_ATTEMPTS",
        default=8,
        ge=1,
        description="Pushes of one outbox change that may fail on a passing error (429, 5xx, timeout) before it "
        "becomes a dead letter. A permanent error (422 bad value, 403) dead-letters at once.",
    )
    outbound_backoff_seconds: float = _env(
        "AIRTABLE_PG_OUTBOUND_BACKOFF_SECONDS",
        default=2.0,
        gt=0,
        description="The wait before retrying a failed push; doubles with each attempt (with jitter), up to "
        "`AIRTABLE_PG_OUTBOUND_BACKOFF_MAX_SECONDS`.",
    )
    outbound_backoff_max_seconds: float = _env(
        "AIRTABLE_PG_OUTBOUND_BACKOFF_MAX_SECONDS",
        default=300.0,
        gt=0,
        description="The longest wait between two pushes of one failing outbox change.",
    )
    upload_dir: str | None = _env(
        "AIRTABLE_PG_UPLOAD_DIR",
        default=None,
        default_text="none",
        description="A directory the outbound pusher may upload files from: an attachment the app adds to a "
        'Postgres-authoritative table as `{"file": "path/relative/to/it"}` is uploaded to Airtable. Unset: such '
        "attachments are dead-lettered.",
    )
    archive_url: str | None = _env(
        "AIRTABLE_PG_ARCHIVE_URL",
        default=None,
        default_text="`$AIRTABLE_PG_HOME/archive`",
        description="Where the attachment archive keeps its copies: a directory, or `s3://bucket/prefix` (any "
        "S3-compatible store; credentials from the usual AWS variables or profile, never from airtable_pg).",
    )
    archive_s3_endpoint_url: str | None = _env(
        "AIRTABLE_PG_ARCHIVE_S3_ENDPOINT_URL",
        default=None,
        default_text="AWS",
        description="The endpoint of an S3-compatible service (MinIO, Cloudflare R2, …) for an `s3://` archive.",
    )
    archive_public_url: str | None = _env(
        "AIRTABLE_PG_ARCHIVE_PUBLIC_URL",
        default=None,
        default_text="the store's own URL",
        description="The URL the archive store is served at (a CDN or bucket website, or `airtable-pg api`'s "
        "`…/archive`, which serves each copy to its tokens): each copy's stable URL in "
        "`airtable_sync.attachment_archive` is this plus its key.",
    )
    archive_retention_days: float = _env(
        "AIRTABLE_PG_ARCHIVE_RETENTION_DAYS",
        default=30.0,
        ge=0,
        description="How long the copy of an attachment deleted in Airtable (or whose record was) is kept before "
        "`airtable-pg archive purge` (or the Dagster purge job) removes its bytes.",
    )
    archive_workers: int = _env(
        "AIRTABLE_PG_ARCHIVE_WORKERS",
        default=4,
        ge=1,
        description="Attachment downloads in flight. Content downloads are not API requests and take no rate-limit "
        "slot; re-reading a record whose URL expired does.",
    )
    archive_max_attempts: int = _env(
        "AIRTABLE_PG_ARCHIVE_MAX_ATTEMPTS",
        default=8,
        ge=1,
        description="Failed copies of one attachment (with growing waits) before it is marked failed.",
    )
    migrator_role: str = _env(
        "AIRTABLE_PG_MIGRATOR_ROLE",
        default="airtable_pg_migrator",
        description="The role `db roles` creates to own schemas and run migrations.",
    )
    runtime_role: str = _env(
        "AIRTABLE_PG_RUNTIME_ROLE",
        default="airtable_pg_runtime",
        description="The role `db roles` creates for the running system: rows only, no DDL.",
    )
    migrator_password: SecretStr | None = _env(
        "AIRTABLE_PG_MIGRATOR_PASSWORD",
        default=None,
        default_text="none (NOLOGIN)",
        description="Password `db roles` gives the migrator role; without one the role cannot log in and is "
        "granted to your own login roles.",
    )
    runtime_password: SecretStr | None = _env(
        "AIRTABLE_PG_RUNTIME_PASSWORD",
        default=None,
        default_text="none (NOLOGIN)",
        description="Password `db roles` gives the runtime role (as above).",
    )
    dagster_role: str = _env(
        "AIRTABLE_PG_DAGSTER_ROLE",
        default="airtable_pg_dagster",
        description="The role `db roles` creates to own Dagster's instance storage (its own database): no access "
        "to the mirror, and the mirror's roles none to it.",
    )
    dagster_password: SecretStr | None = _env(
        "AIRTABLE_PG_DAGSTER_PASSWORD",
        default=None,
        default_text="none (NOLOGIN)",
        description="Password `db roles` gives the Dagster role (as above); `DAGSTER_PG_URL` logs in with it.",
    )
    dagster_database: str = _env(
        "AIRTABLE_PG_DAGSTER_DATABASE",
        default="dagster",
        description="The database `db roles` creates (on the server of `DATABASE_URL`), owned by the Dagster role, "
        "for Dagster's instance storage; `DAGSTER_PG_URL` names it. Use another per environment sharing a server. "
        "`airtable-pg dev` keeps its Dagster storage there too.",
    )
    dagster_home: Path | None = _env(
        "DAGSTER_HOME",
        default=None,
        default_text="`./dagster_home`",
        description="Dagster instance config (`dagster.yaml`: storage on Postgres via dagster-postgres).",
    )
    dagster_pg_url: SecretStr | None = _env(
        "DAGSTER_PG_URL",
        default=None,
        default_text="set by `airtable-pg dev`",
        description="Postgres URL of Dagster's own storage, in the form `postgresql+psycopg2://…` "
        "(dagster-postgres uses psycopg2). `airtable-pg dev` points it at a database `dagster` on the same "
        "server and creates it.",
    )
    dagster_prefix: str | None = _env(
        "AIRTABLE_PG_DAGSTER_PREFIX",
        default=None,
        default_text="none",
        description="The `prefix` your Dagster project gave `build_defs` (or the Component), if any: the commands "
        "that record syncs on the Dagster instance outside a run (`sync`, the webhook applier) put them on that "
        "instance's asset keys.",
    )
    alert_webhook_url: SecretStr | None = _env(
        "AIRTABLE_PG_ALERT_WEBHOOK_URL",
        default=None,
        default_text="none: incidents are tracked (`alerts list`), not posted",
        description='Where the alerts sensor POSTs Slack-compatible JSON (`{"text": …}`): one message when an '
        "incident fires, one when it recovers. A Slack incoming-webhook URL is a secret: never logged.",
    )
    ui_url: str = _env(
        "AIRTABLE_PG_UI_URL",
        default="http://127.0.0.1:3000",
        description="The Dagster UI as the people who get alerts reach it: each message links to the asset or run.",
    )
    slo_p95_seconds: float = _env(
        "AIRTABLE_PG_SLO_P95_SECONDS",
        default=15.0,
        gt=0,
        description="Fast-lane (users) provisioning SLO: alert when the p95 latency over the window is above this.",
    )
    slo_p99_seconds: float = _env(
        "AIRTABLE_PG_SLO_P99_SECONDS",
        default=60.0,
        gt=0,
        description="Fast-lane (users) provisioning SLO: alert when the p99 latency over the window is above this.",
    )
    slo_window_minutes: int = _env(
        "AIRTABLE_PG_SLO_WINDOW_MINUTES",
        default=15,
        ge=1,
        description="The window the provisioning percentiles are taken over.",
    )
    slo_min_changes: int = _env(
        "AIRTABLE_PG_SLO_MIN_CHANGES",
        default=5,
        ge=1,
        description="Fewer fast-lane changes than this in the window: no provisioning alert (too few to judge).",
    )
    # Not from the environment: where the values came from when a running dev stack filled them in.
    dev_stack: Path | None = Field(default=None, exclude=True)

    @field_validator("airtable_api_key", *_DATABASE_URLS, "migrator_password", "runtime_password", "dagster_password",
                     "dagster_pg_url", "alert_webhook_url", mode="before")  # fmt: skip
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*_DATABASE_URLS, "dagster_pg_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(_POSTGRES_SCHEMES):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("dagster_prefix", mode="before")
    @classmethod
    def _a_dagster_name(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not DAGSTER_PREFIX.match(str(value)):
            raise ValueError("must be letters, digits and underscores, starting with a letter")
        return value

    @field_validator("airtable_api_url", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        return DEFAULT_API_URL if isinstance(value, str) and not value.strip() else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values, then the environment; no .env file is read behind a user's back.
        return init_settings, _EnvironSource(settings_cls, _ENVIRON.get())

    # -- what the rest of the code asks for -----------------------------------------------------

    @property
    def staging(self) -> bool:
        return self.environment == "staging"

    @property
    def database_variable(self) -> str:
        """The variable holding the selected environment's runtime database URL (what EnvVar binds)."""
        return "DATABASE_URL_STAGING" if self.staging else "DATABASE_URL"

    @property
    def selected_database_url(self) -> SecretStr | None:
        """The selected environment's runtime database; ``None``: the embedded server (production only)."""
        return self.database_url_staging if self.staging else self.database_url

    @property
    def migration_database_url(self) -> SecretStr | None:
        """The selected environment's database as the migration role; ``None``: the runtime URL."""
        migration = self.database_migration_url_staging if self.staging else self.database_migration_url
        return migration or self.selected_database_url

    @property
    def rate_margin_seconds(self) -> float:
        return self.rate_margin_ms / 1000

    def require_api_key(self) -> str:
        if self.airtable_api_key is None:
            raise ConfigError(MISSING_API_KEY)
        return self.airtable_api_key.get_secret_value()

    def secrets(self) -> list[str]:
        """Every secret value in these settings: what error messages are scrubbed of before printing."""
        values = [self.airtable_api_key, self.migrator_password, self.runtime_password, self.dagster_password,
                  self.alert_webhook_url]  # fmt: skip
        found = [v.get_secret_value() for v in values if v is not None]
        for url in (*(getattr(self, name) for name in _DATABASE_URLS), self.dagster_pg_url):
            password = _password_in(url.get_secret_value()) if url is not None else None
            if password:
                found.append(password)
        return found

    @property
    def dev_stack_note(self) -> str | None:
        """What a command says when it runs against the dev stack's settings rather than the environment's."""
        if self.dev_stack is None:
            return None
        return (
            f"using the running `airtable-pg dev` stack ({self.dev_stack}); "
            "set DATABASE_URL or AIRTABLE_API_KEY to choose another"
        )


def _password_in(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def dev_stack_path(home: Path) -> Path:
    return home.resolve() / DEV_STACK_FILE


def read_dev_stack(home: Path) -> dict[str, str] | None:
    """The running dev stack's addresses, or ``None`` (no stack, or a file left by a stack that crashed)."""
    path = dev_stack_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _process_alive(data.get("pid")):
        return None
    return {key: value for key, value in data.items() if isinstance(value, str)}


def _process_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def load_settings(env: Mapping[str, str] | None = None, *, use_dev_stack: bool = True, **overrides: Any) -> Settings:
    """Settings from ``env`` (default: the process environment), then the dev stack for what it leaves unset.

    ``overrides`` are field values that win over both (tests, command-line options). Raises
    :class:`ConfigError` naming the variable that is malformed, never its value.
    """
    environ = dict(os.environ if env is None else env)
    try:
        settings = _from_environ(environ, overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    if settings.staging and settings.database_url_staging is None:
        raise ConfigError(
            "AIRTABLE_PG_ENV is staging (--env staging) but DATABASE_URL_STAGING is not set: staging never "
            "falls back to production's database or the embedded one"
        )
    chosen = settings.staging or any(environ.get(name, "").strip() for name in _DEV_STACK_KEYS.values())
    if use_dev_stack and not chosen:
        stack = read_dev_stack(settings.home)
        if stack is not None:
            filled = {name: stack[key] for key, name in _DEV_STACK_KEYS.items() if stack.get(key)}
            # The stack's Dagster instance too, unless this environment names one: syncs and checks run from
            # this terminal are then recorded where the stack's UI shows them.
            filled |= {name: stack[key] for key, name in _DEV_STACK_DAGSTER.items() if stack.get(key)
                       and not environ.get(name, "").strip()}  # fmt: skip
            try:
                settings = _from_environ({**environ, **filled}, overrides)
            except ValidationError as error:
                raise ConfigError(f"{dev_stack_path(settings.home)}: {_describe(error)}") from None
            settings = settings.model_copy(update={"dev_stack": dev_stack_path(settings.home)})
    return settings


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping instead of always ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None) -> None:
        self._environ = environ
        super().__init__(settings_cls, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(os.environ if self._environ is None else self._environ)


def _from_environ(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> Settings:
    token = _ENVIRON.set(environ)
    try:
        return Settings(**overrides)
    finally:
        _ENVIRON.reset(token)


def env_name(info: FieldInfo) -> str | None:
    extra = info.json_schema_extra
    return extra.get("env") if isinstance(extra, dict) else None  # type: ignore[return-value]


_RULES = {
    "float_parsing": "must be a number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
}


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        by_variable = {env_name(i): i for i in Settings.model_fields.values()}
        info = Settings.model_fields.get(field) or by_variable.get(field)
        variable = (env_name(info) if info is not None else None) or field
        rule = _RULES.get(item["type"], item["msg"].removeprefix("Value error, ")).format(**(item.get("ctx") or {}))
        # Unknown fields count as secret: a value is only repeated when it is known to be harmless.
        secret = info is None or "SecretStr" in str(info.annotation)
        # A secret's value is never repeated back; any other value is, so the user sees what was read.
        problems.append(f"{variable} {rule}" if secret else f"{variable} {rule}, got {item['input']!r}")
    return "; ".join(problems)


def configuration_table() -> str:
    """The README's configuration table, generated from the fields above."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for info in Settings.model_fields.values():
        variable = env_name(info)
        if variable is None:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = extra.get("default_text")
        if default is None:
            value = info.default
            default = f"`{value}`" if not isinstance(value, float) or not value.is_integer() else f"`{int(value)}`"
        lines.append(f"| `{variable}` | {default} | {info.description} |")
    return "\n".join(lines)
