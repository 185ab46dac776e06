"""Production differs only by environment variables: with them set, check --deploy is clean."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "p" * 30 + "roduction-secret-key-of-sixty-characters-xyz",
    "ALLOWED_HOSTS": "survey.example.eu",
    "SITE_URL": "https://survey.example.eu",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_reports_nothing_with_the_documented_variables(tmp_path):
    # A clean production environment: not the test session's (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly reports).
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {**inherited, **PRODUCTION_ENV, "VAR_DIR": str(tmp_path)}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_embedded_defaults_generate_a_secret_key_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["VAR_DIR"] = str(tmp_path)
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_manage("shell", "-c", code, env=env).stdout.strip()
    second = run_manage("shell", "-c", code, env=env).stdout.strip()
    assert len(first) >= 50 and first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_ensure_admin_creates_the_account_once(capsys, settings, tmp_path, monkeypatch):
    from accounts.models import User

    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("DJANGO_ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin")
    first = capsys.readouterr().out
    password = (tmp_path / "admin_password").read_text().strip()
    assert "Created admin account 'admin'" in first and password in first
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
    assert user.groups.filter(name="Admin").exists()

    call_command("ensure_admin")
    assert User.objects.filter(username="admin").count() == 1
    assert User.objects.get(username="admin").check_password(password)


# Shared state: no per-process cache or session store ------------------------------------------

CACHE_CODE = (
    "from django.conf import settings; from django.core.cache import cache; "
    "print(settings.CACHES['default']['BACKEND']); cache.set('probe', 'shared', 30); "
    "print(cache.get('probe'))"
)


def test_sessions_and_every_cache_are_shared_by_all_processes(settings):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    for alias in settings.CACHES.values():
        assert "locmem" not in alias["BACKEND"].lower()
        assert "dummy" not in alias["BACKEND"].lower()


@pytest.mark.django_db
def test_without_a_cache_url_the_cache_is_a_table_of_the_database():
    from django.core.cache import cache, caches
    from django.core.cache.backends.db import DatabaseCache

    # Django's test database creation runs createcachetable: the table is there.
    assert isinstance(caches["default"], DatabaseCache)
    cache.set("probe", {"shared": True}, 30)
    assert cache.get("probe") == {"shared": True}


def test_redis_url_or_cache_url_switch_the_cache_to_redis(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"CACHE_URL", "REDIS_URL"}}
    env["VAR_DIR"] = str(tmp_path)
    for name in ("REDIS_URL", "CACHE_URL"):
        result = run_manage(
            "shell",
            "--no-imports",
            "-c",
            CACHE_CODE,
            env={**env, name: "redis://127.0.0.1:6379/10"},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["django.core.cache.backends.redis.RedisCache", "shared"]


def test_a_cache_url_that_is_not_redis_is_refused(tmp_path):
    env = {**os.environ, "VAR_DIR": str(tmp_path), "CACHE_URL": "memcached://127.0.0.1:11211"}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert "CACHE_URL must be a redis:// URL" in result.stderr
