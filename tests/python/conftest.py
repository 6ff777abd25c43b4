# Shared fixtures for the Python module's tests (run by ctest: `python3 -m pytest tests/python`).
import zlib

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    # A seed per test from its name: reproducible, and different across tests.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
