"""Browser fixtures: pytest-playwright driving Debian's Chromium (Playwright's own download does
not work on these machines), headless."""

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_unless_ci

CHROMIUM = Path("/usr/bin/chromium")

# Playwright's sync API keeps an event loop running in the main thread for the whole session
# (its fixtures are session-scoped), so Django's async-safety check would refuse every ORM call
# of this and later tests. Nothing here runs Django code inside that loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
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
