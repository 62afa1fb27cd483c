"""Helpers the test levels share (importable as ``support.*``: pytest puts ``tests/`` on
``sys.path`` through ``pythonpath`` in pyproject.toml). Fixtures live in each level's
``conftest.py``; plain functions and constants live here."""
