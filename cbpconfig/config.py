"""Settings read from the environment, validated once, with per-environment defaults.

Everything that can be wrong in a deployment's environment is checked here, so a missing or
malformed setting stops start-up with one line that names it (cookiecutter-django, NetBox).
This module imports nothing of Django so it can be tested with plain dictionaries.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "staging", "production")

# One small table of per-environment choices (ARCHITECTURE.md: no thousand-line settings).
ENVIRONMENT_DEFAULTS: dict[str, dict[str, object]] = {
    "development": {
        "debug": True,
        "log_level": "DEBUG",
        "audit_retention_days": 30,
        "backups_required": False,
    },
    "staging": {
        "debug": False,
        "log_level": "INFO",
        "audit_retention_days": 90,
        "backups_required": True,
    },
    "production": {
        "debug": False,
        "log_level": "INFO",
        "audit_retention_days": 365,
        "backups_required": True,
    },
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


@dataclass(frozen=True)
class Config:
    environment: str
    debug: bool
    log_level: str
    audit_retention_days: int
    backups_required: bool
    secret_key: str
    database_url: str | None
    redis_url: str | None
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    trusted_proxies: list[str]
    flag_overrides: str
    statement_timeout_ms: int
    conn_max_age: int
    throttle_rate: str
    backup_dir: str
    bench_endpoints: bool
    extra: dict[str, str] = field(default_factory=dict)


def _read(env: Mapping[str, str], name: str) -> str | None:
    """Read NAME, or the file named by NAME_FILE (container secrets); never both."""
    value = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise SettingsError(f"{name}: set either {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(
                f"{name}_FILE: cannot read {file_name!r} ({exc.strerror})"
            ) from None
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _read(env, name)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _read(env, name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = _read(env, name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def _database_url(env: Mapping[str, str], environment: str) -> str | None:
    url = _read(env, "DATABASE_URL")
    if url is None or url.strip() == "":
        if environment != "development":
            raise SettingsError(f"DATABASE_URL: required when CBP_ENVIRONMENT={environment}")
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
        raise SettingsError(
            f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres://user@host:port/name)"
        )
    if parts.scheme == "sqlite" and environment != "development":
        raise SettingsError("DATABASE_URL: SQLite is for development only; use PostgreSQL")
    if parts.scheme != "sqlite" and not parts.path.strip("/"):
        raise SettingsError("DATABASE_URL: the database name is missing")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise SettingsError("DATABASE_URL: the port is not a number") from None
    return url


def _redis_url(env: Mapping[str, str], environment: str) -> str | None:
    url = _read(env, "REDIS_URL")
    if url is None or url.strip() == "":
        if environment != "development":
            raise SettingsError(f"REDIS_URL: required when CBP_ENVIRONMENT={environment}")
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            f"REDIS_URL: unsupported scheme {parts.scheme!r} (use redis://host:port/db)"
        )
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise SettingsError("REDIS_URL: the port is not a number") from None
    return url


def load(env: Mapping[str, str] | None = None) -> Config:
    """Validate the environment and return the settings; raise SettingsError naming the first problem."""
    env = os.environ if env is None else env
    environment = (env.get("CBP_ENVIRONMENT") or "development").strip()
    if environment not in ENVIRONMENTS:
        raise SettingsError(
            f"CBP_ENVIRONMENT: must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
        )
    defaults = ENVIRONMENT_DEFAULTS[environment]

    secret_key = _read(env, "SECRET_KEY")
    if not secret_key:
        if environment != "development":
            raise SettingsError(f"SECRET_KEY: required when CBP_ENVIRONMENT={environment}")
        secret_key = "development-only-insecure-key-do-not-use-in-production"
    elif environment != "development" and (len(secret_key) < 50 or len(set(secret_key)) < 5):
        # Django's own deploy check (security.W009) asks for this much.
        raise SettingsError(
            "SECRET_KEY: must be at least 50 characters with at least 5 different ones outside development"
        )

    log_level = (_read(env, "LOG_LEVEL") or str(defaults["log_level"])).upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    allowed_default = (
        ["127.0.0.1", "localhost", "testserver"] if environment == "development" else []
    )
    allowed_hosts = _list(env, "ALLOWED_HOSTS", allowed_default)
    if not allowed_hosts:
        raise SettingsError(f"ALLOWED_HOSTS: required when CBP_ENVIRONMENT={environment}")
    origins = _list(env, "CSRF_TRUSTED_ORIGINS", [])
    for origin in origins:
        if urlsplit(origin).scheme not in ("http", "https") or not urlsplit(origin).netloc:
            raise SettingsError(
                f"CSRF_TRUSTED_ORIGINS: {origin!r} is not an origin such as https://cbp.example"
            )

    proxies = _list(env, "CBP_TRUSTED_PROXIES", [])
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                f"CBP_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
            ) from None

    throttle_rate = (_read(env, "CBP_THROTTLE_RATE") or "6000/minute").strip()
    if not _RATE.match(throttle_rate):
        raise SettingsError(
            f"CBP_THROTTLE_RATE: expected N/second|minute|hour|day, got {throttle_rate!r}"
        )

    bench_endpoints = _bool(env, "CBP_BENCH_ENDPOINTS", False)
    if bench_endpoints and environment != "development":
        raise SettingsError("CBP_BENCH_ENDPOINTS: benchmark endpoints exist in development only")

    return Config(
        environment=environment,
        debug=_bool(env, "DEBUG", bool(defaults["debug"])),
        log_level=log_level,
        audit_retention_days=_int(
            env, "CBP_AUDIT_RETENTION_DAYS", int(defaults["audit_retention_days"]), 1, 36500
        ),
        backups_required=bool(defaults["backups_required"]),
        secret_key=secret_key,
        database_url=_database_url(env, environment),
        redis_url=_redis_url(env, environment),
        allowed_hosts=allowed_hosts,
        csrf_trusted_origins=origins,
        trusted_proxies=proxies,
        flag_overrides=_read(env, "CBP_FLAG_OVERRIDES") or "",
        # Below gunicorn's 30 s worker timeout, so a runaway query is cancelled by PostgreSQL
        # (and answered 503) before gunicorn kills the worker.
        statement_timeout_ms=_int(env, "CBP_STATEMENT_TIMEOUT_MS", 20000, 100, 25000),
        conn_max_age=_int(env, "CBP_CONN_MAX_AGE", 60, 0, 3600),
        throttle_rate=throttle_rate,
        backup_dir=_read(env, "CBP_BACKUP_DIR") or "",
        bench_endpoints=bench_endpoints,
    )
