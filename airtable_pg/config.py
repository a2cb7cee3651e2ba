"""Settings read from the environment that more than one entry point needs (the CLI and Dagster)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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


@dataclass(frozen=True)
class RateSettings:
    requests_per_second: float  # per base: Airtable's limit is 5
    penalty_seconds: float  # how long a 429 blocks the base: Airtable's is 30
    margin_seconds: float  # added to each slot's 1/rps spacing, against jitter on the way to Airtable


def rate_limit_settings(env: Mapping[str, str]) -> RateSettings:
    return RateSettings(
        requests_per_second=env_number(env, "AIRTABLE_PG_RATE_LIMIT", 5.0),
        penalty_seconds=env_number(env, "AIRTABLE_PG_PENALTY_SECONDS", 30.0, allow_zero=True),
        margin_seconds=env_number(env, "AIRTABLE_PG_RATE_MARGIN_MS", 8.0, allow_zero=True) / 1000,
    )
