"""Settings read from the environment that more than one entry point needs (the CLI and Dagster)."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable (never its secret value)."""


def env_number(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {raw!r}")
    return value


def rate_limit_settings(env: Mapping[str, str]) -> tuple[float, float]:
    """``(requests per second per base, seconds a 429 blocks the base)``: Airtable's 5 and 30 unless overridden."""
    return (
        env_number(env, "AIRTABLE_PG_RATE_LIMIT", 5.0),
        env_number(env, "AIRTABLE_PG_PENALTY_SECONDS", 30.0, allow_zero=True),
    )
