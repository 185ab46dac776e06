"""Under CI (the CI variable set) the suite refuses to run anywhere but PostgreSQL, and nothing
skips for a missing browser or server: what is skipped locally fails there."""

import os

import pytest
from django.conf import settings

IN_CI = bool(os.environ.get("CI"))


def skip_unless_ci(reason: str) -> None:
    """Skip locally when something optional is missing; under CI that is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def on_postgresql() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]
