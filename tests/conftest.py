"""Fixtures shared by tests of several rooms: roles, PostgreSQL, the browser, a real SMTP server
and real Celery workers. Under CI (the CI variable set) the suite refuses to run anywhere but
PostgreSQL, and nothing skips for a missing browser or server (tests/support/ci.py)."""

import json
import logging
import os
from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from pytest_django import Settings

from accounts.models import User
from accounts.roles import ADMIN, STAFF, VIEWER
from tests.support.celery_worker import QUEUE, WorkerProcess, database_url
from tests.support.ci import IN_CI, on_postgresql, skip_unless_ci
from tests.support.smtp_sink import SmtpSink, free_port

CHROMIUM = Path("/usr/bin/chromium")

# Playwright's sync API keeps an event loop running in the main thread for the whole session
# (its fixtures are session-scoped), so Django's async-safety check would refuse every ORM call
# of this and later tests. Nothing here runs Django code inside that loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if IN_CI and "postgresql" not in engine:
        pytest.exit(f"CI must run on PostgreSQL (DATABASE_URL), not {engine}.", returncode=3)


# Mutation testing (`make mutation`, docs/mutation-testing.md) ---------------------------------
# mutmut forks up to two test runs at a time from one process: each gets a test database of its
# own, and the runs keep to tests that execute the mutated code in this process (a Celery worker
# subprocess would import the mutants too, but takes 5-60 s a test: see the doc).
MUTATION_RUN = bool(os.environ.get("ECCP_MUTATION"))
_TEST_DATABASE_NAMES = {
    alias: database.get("TEST", {}).get("NAME") or f"test_{database['NAME']}"
    for alias, database in settings.DATABASES.items()
}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """pytest-django's hook for test database names: under mutation, one per process, copied
    from the migrated database DATABASE_URL names (tools/mutation.py migrates it first), so that
    each mutant's run starts in a second instead of migrating a new database."""
    if MUTATION_RUN:
        for alias, database in settings.DATABASES.items():
            test = database.setdefault("TEST", {})
            test["NAME"] = f"{_TEST_DATABASE_NAMES[alias]}_mutant_{os.getpid()}"
            if "postgresql" in database["ENGINE"]:
                test["TEMPLATE"] = database["NAME"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MUTATION_RUN:
        return
    # Runs of mutants (and the clean run before them), not mutmut's statistics run nor its
    # listing of every test (which forgets the statistics of tests it does not list, and the
    # next module's run would collect them again): only the tests of the module under mutation
    # (ECCP_MUTATION_TESTS, set by tools/mutation.py) among those that mutmut chose by coverage.
    module_tests = os.environ.get("ECCP_MUTATION_TESTS", "").split()
    narrowed = os.environ.get("MUTANT_UNDER_TEST") not in {"stats", "list_all_tests"}
    in_process: list[pytest.Item] = []
    elsewhere: list[pytest.Item] = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        another_process = item.get_closest_marker("browser") or "celery_worker_factory" in fixtures
        another_module = (
            narrowed and module_tests and not item.nodeid.startswith(tuple(module_tests))
        )
        (elsewhere if another_process or another_module else in_process).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
    if narrowed:
        # Fastest first, by the durations mutmut's statistics run recorded: a mutant's run stops
        # at its first failing test (-x), so a killed mutant then costs its fastest killing
        # test, not the slow ones that happened to come first. Tests that empty the database
        # (transactional) stay after the others, as pytest-django orders them.
        durations = _mutmut_durations(Path(config.rootpath) / "mutmut-stats.json")
        in_process.sort(key=lambda item: (_empties_database(item), durations.get(item.nodeid, 0)))
    items[:] = in_process


def _empties_database(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(
        (marker and marker.kwargs.get("transaction"))
        or fixtures & {"transactional_db", "live_server", "django_db_serialized_rollback"}
    )


def _mutmut_durations(path: Path) -> dict[str, float]:
    try:
        recorded = json.loads(path.read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(nodeid): float(seconds) for nodeid, seconds in recorded.items()}


def pytest_report_header(config: pytest.Config) -> str:
    database = settings.DATABASES["default"]
    return f"database: {database['ENGINE']} {database.get('HOST') or ''} {database['NAME']}"


@pytest.fixture
def require_postgresql() -> None:
    if not on_postgresql():
        skip_unless_ci("needs PostgreSQL (set DATABASE_URL)")


# Roles ----------------------------------------------------------------------------------------


def _user_in_group(django_user_model: type[User], username: str, group: str | None) -> User:

    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    if group:
        # A transactional test before this one flushes the groups and permissions that the
        # migrations gave the roles: put them back as the migrations do.
        user.groups.add(_role_group(group))
    return user


@receiver(post_migrate)
def _roles_after_a_flush(sender: object, **kwargs: Any) -> None:
    """A transactional test ends with a flush of the database, which takes the role groups and
    their permissions with it (made by migrations, not by post_migrate); the flush then sends
    post_migrate once per app, after which every role is whole again for the tests that follow."""
    for name in (ADMIN, STAFF, VIEWER):
        _role_group(name, complete=True)


def _role_group(name: str, *, complete: bool = False) -> Group:
    group, created = Group.objects.get_or_create(name=name)
    if not created and not complete and group.permissions.exists():
        return group
    roles = import_module("accounts.migrations.0003_role_permissions")
    unlocks = import_module("accounts.migrations.0004_admin_unlocks_logins")
    if name == ADMIN:
        permissions = Permission.objects.filter(
            content_type__app_label__in=["surveys", "accounts", "auth"]
        ) | Permission.objects.filter(
            content_type__app_label="axes", codename__in=unlocks.AXES_PERMISSIONS
        )
    else:
        models = roles.STAFF_MODELS if name == STAFF else roles.VIEWER_MODELS
        codenames = [
            f"{action}_{model}" for model, actions in models.items() for action in actions.split()
        ]
        permissions = Permission.objects.filter(
            content_type__app_label="surveys", codename__in=codenames
        )
    group.permissions.set(permissions)
    return group


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


# The browser (questionnaire/test_browser.py, results/test_browser_dashboard.py) -----------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright driving Debian's Chromium (Playwright's own download does not work on
    these machines), headless."""
    if not CHROMIUM.exists():
        skip_unless_ci(f"{CHROMIUM} is missing (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }


@pytest.fixture
def new_context(new_context: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """pytest-playwright's contexts (the `page` fixture's too), each watched for the
    Content-Security-Policy violations its pages report on the console: a browser test whose
    pages break the policy fails, whatever it set out to test."""
    violations: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    def make(**kwargs: Any) -> Any:
        context = new_context(**kwargs)
        context.on("console", on_console)
        return context

    yield make
    assert violations == [], violations


# A real SMTP server and real Celery workers (outreach/, results/test_export_jobs.py) ------------


@pytest.fixture
def smtp_sink(settings: Settings) -> Iterator[SmtpSink]:
    """A running SMTP server; Django in this process sends to it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    sink = SmtpSink(port=free_port())
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    sink.stop()


@pytest.fixture
def celery_worker_factory(
    smtp_sink: SmtpSink, tmp_path: Path, settings: Settings
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real workers on the configured broker, sending to the SMTP sink, against the test
    database. Needs PostgreSQL: the worker is another process."""
    from eccp_survey.celery import app

    if not on_postgresql():
        skip_unless_ci("worker tests need PostgreSQL (the worker is another process)")
    queue = QUEUE
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    base_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "SITE_URL": settings.SITE_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_sink.port),
        "EMAIL_RETRY_BASE_SECONDS": "0.2",
        "EMAIL_MAX_ATTEMPTS": "50",
        "TMPDIR": str(tmp_path),
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        base_env["VAR_DIR"] = str(settings.VAR_DIR)
    workers: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        if "VAR_DIR" in env and settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # A worker given a VAR_DIR of its own (a test's export folder) still reads this
            # process's queue: the filesystem broker's folder is VAR_DIR/celery.
            ours = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).parent
            theirs = Path(env["VAR_DIR"]) / "celery"
            if not theirs.exists():
                theirs.parent.mkdir(parents=True, exist_ok=True)
                theirs.symlink_to(ours, target_is_directory=True)
        worker = WorkerProcess(
            env={**base_env, **env}, log_path=tmp_path / f"worker-{len(workers)}.log"
        )
        workers.append(worker)
        worker.start(concurrency=int(env.get("CONCURRENCY", "2")))
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.conf.task_default_queue = previous_queue
    # The worker's connections are gone with it; the test database can be flushed and dropped.
    connection.close()
