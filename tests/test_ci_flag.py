"""`CI` is a boolean: CI=false, 0, no or an empty value is not CI (the suite then skips what is
missing instead of failing), and CI=true, 1, yes is (nothing may skip, PostgreSQL only)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ci import ci_from_environment

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off", "", " "])
def test_ci_set_to_a_false_value_is_not_ci(value):
    assert ci_from_environment({"CI": value}) is False


def test_ci_unset_is_not_ci():
    assert ci_from_environment({}) is False


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "on", " true "])
def test_ci_set_to_a_true_value_is_ci(value):
    assert ci_from_environment({"CI": value}) is True


@pytest.mark.parametrize(("value", "refused"), [("false", False), ("true", True)])
def test_the_suite_refuses_sqlite_only_when_ci_is_true(value, refused):
    """The whole pytest start-up, as CI runs it: with CI=true a SQLite database stops the run
    (exit code 3); CI=false runs it."""
    env = {**os.environ, "CI": value, "DATABASE_URL": "sqlite://:memory:"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--co",
            "tests/test_smoke.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if refused:
        assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
        assert "CI must run on PostgreSQL" in result.stdout + result.stderr
    else:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
