"""Helpers for tests in several rooms that are not fixtures: classes and functions a test calls
with its own arguments. Fixtures live in the conftest.py of the narrowest folder that uses them."""
