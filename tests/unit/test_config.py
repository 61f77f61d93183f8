"""Settings validation: every bad setting stops start-up with a line that names it."""

from __future__ import annotations

import pytest

from cbpconfig.config import ENVIRONMENT_DEFAULTS, SettingsError, load

SECRET = "Kp7-Rw2_Zx9Lm4Qt6Vb1Nc8Hd3Gj5Ae0Su7Ri2Oo9Lw4Qx-y6Tz1Ue3"
PROD = {
    "CBP_ENVIRONMENT": "production",
    "SECRET_KEY": "Vq3x-9fLr_Zp2Wm8Kt5Yb7Nc4Hd6Gj1Ae0Su3Ri9Oo2Lw7Qx-r4Tz8Ue1",
    "DATABASE_URL": "postgres://cbp@db:5432/cbp",
    "REDIS_URL": "redis://cache:6379/0",
    "ALLOWED_HOSTS": "cbp.example.com",
}


def test_load__development_defaults__sqlite_and_local_memory():
    config = load({})
    assert config.environment == "development"
    assert config.database_url is None
    assert config.redis_url is None
    assert config.debug is True
    assert config.audit_retention_days == 30


def test_load__production__per_environment_table():
    config = load(PROD)
    assert config.debug is False
    assert config.audit_retention_days == 365
    assert config.backups_required is True
    assert ENVIRONMENT_DEFAULTS["staging"]["audit_retention_days"] == 90


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"CBP_ENVIRONMENT": "prod"}, "CBP_ENVIRONMENT"),
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY"),
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://x@y:port/z"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://x@y:5432/"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:///tmp/x.db"}, "DATABASE_URL"),
        ({"REDIS_URL": None}, "REDIS_URL"),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"CSRF_TRUSTED_ORIGINS": "cbp.example.com"}, "CSRF_TRUSTED_ORIGINS"),
        ({"CBP_TRUSTED_PROXIES": "not-an-ip"}, "CBP_TRUSTED_PROXIES"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"CBP_STATEMENT_TIMEOUT_MS": "60000"}, "CBP_STATEMENT_TIMEOUT_MS"),
        ({"CBP_AUDIT_RETENTION_DAYS": "many"}, "CBP_AUDIT_RETENTION_DAYS"),
        ({"CBP_THROTTLE_RATE": "fast"}, "CBP_THROTTLE_RATE"),
        ({"CBP_BENCH_ENDPOINTS": "true"}, "CBP_BENCH_ENDPOINTS"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
    ],
)
def test_load__bad_setting__error_names_it_in_one_line(changes, named):
    env = {**PROD, **changes}
    env = {k: v for k, v in env.items() if v is not None}
    if "SECRET_KEY_FILE" in changes:
        env.pop("SECRET_KEY")
    with pytest.raises(SettingsError) as info:
        load(env)
    message = str(info.value)
    assert message.startswith(named)
    assert "\n" not in message


def test_load__secret_from_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    env = {**PROD, "SECRET_KEY_FILE": str(secret)}
    env.pop("SECRET_KEY")
    assert load(env).secret_key == SECRET


def test_load__both_value_and_file__refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    with pytest.raises(SettingsError, match="^SECRET_KEY"):
        load({**PROD, "SECRET_KEY_FILE": str(secret)})
