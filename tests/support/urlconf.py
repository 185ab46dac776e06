"""The project's URL configuration evaluated again under other settings: a URL that is mounted or
not according to a setting (the email service's tracking webhook) is tested in the real
eccp_survey/urls.py, not in a copy of its logic."""

import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import eccp_survey.urls

_numbers = itertools.count(1)


@contextmanager
def urlconf_reloaded(settings: Any, **overrides: Any) -> Iterator[Callable[[], ModuleType]]:
    """Set `overrides` on pytest-django's `settings`, then evaluate eccp_survey/urls.py afresh
    as ROOT_URLCONF (settings restores it, and Django clears its URL caches, at the end)."""
    for name, value in overrides.items():
        setattr(settings, name, value)
    module_name = f"tests_urlconf_{next(_numbers)}"
    spec = importlib.util.spec_from_file_location(module_name, eccp_survey.urls.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        settings.ROOT_URLCONF = module_name
        yield lambda: module
    finally:
        sys.modules.pop(module_name, None)
