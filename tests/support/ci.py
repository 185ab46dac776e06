"""Under CI (the CI variable true) the suite refuses to run anywhere but PostgreSQL, and nothing
skips for a missing browser or server: what is skipped locally fails there."""

import os
from collections.abc import Mapping

import pytest
from django.conf import settings

from eccp_survey.settings import text_is_true


def ci_from_environment(environ: Mapping[str, str]) -> bool:
    """CI is a boolean, read as the settings read theirs: "true", "1", "yes", "on" (any case)
    mean CI; "false", "0", "no", an empty or a missing value do not."""
    return text_is_true(environ.get("CI", ""))


IN_CI = ci_from_environment(os.environ)


def skip_unless_ci(reason: str) -> None:
    """Skip locally when something optional is missing; under CI that is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def on_postgresql() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]
