"""Shared fixtures. Under CI (the CI variable set) the suite refuses to run anywhere but
PostgreSQL, and nothing skips for a missing browser or server."""

import os

import pytest
from django.conf import settings

from accounts.models import User
from accounts.roles import ADMIN, STAFF, VIEWER

IN_CI = bool(os.environ.get("CI"))


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if IN_CI and "postgresql" not in engine:
        pytest.exit(f"CI must run on PostgreSQL (DATABASE_URL), not {engine}.", returncode=3)


def pytest_report_header(config: pytest.Config) -> str:
    database = settings.DATABASES["default"]
    return f"database: {database['ENGINE']} {database.get('HOST') or ''} {database['NAME']}"


def skip_unless_ci(reason: str) -> None:
    """Skip locally when something optional is missing; under CI that is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def on_postgresql() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


@pytest.fixture
def require_postgresql() -> None:
    if not on_postgresql():
        skip_unless_ci("needs PostgreSQL (set DATABASE_URL)")


def _user_in_group(django_user_model: type[User], username: str, group: str | None) -> User:
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    if group:
        # get_or_create: a transactional test before this one flushes the migration's groups.
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def admin_member(django_user_model: type[User]) -> User:
    return _user_in_group(django_user_model, "admin-member", ADMIN)


@pytest.fixture
def staff_member(django_user_model: type[User]) -> User:
    return _user_in_group(django_user_model, "staff-member", STAFF)


@pytest.fixture
def viewer_member(django_user_model: type[User]) -> User:
    return _user_in_group(django_user_model, "viewer-member", VIEWER)


@pytest.fixture
def outsider(django_user_model: type[User]) -> User:
    return _user_in_group(django_user_model, "outsider", None)


# Real SMTP server and Celery worker fixtures (smtp_sink, celery_worker_factory).
from tests.outreach_fixtures import celery_worker_factory, smtp_sink  # noqa: E402, F401
