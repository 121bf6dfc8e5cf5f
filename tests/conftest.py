"""Suite-wide: the config cache (appliance/config/cache.py) lives in a temporary folder of this run, not in the
tester's ~/.cache; every test, and every `hearth` it starts, still goes through it."""
from __future__ import annotations

import os
import shutil
import tempfile


def pytest_configure(config):
    if "HEARTH_CACHE_DIR" not in os.environ:
        os.environ["HEARTH_CACHE_DIR"] = tempfile.mkdtemp(prefix="hearth-test-cache-")
        config._hearth_cache = os.environ["HEARTH_CACHE_DIR"]


def pytest_unconfigure(config):
    folder = getattr(config, "_hearth_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
