"""Fixtures for transfer flow tests: sources on disk, a recording dispatch backend."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.support.recording import RecordingBackend
from tests.support.samples import EICAR as EICAR
from tests.support.samples import make_sample as make_sample


@pytest.fixture()
def dispatched(recorded_runs: RecordingBackend) -> RecordingBackend:
    """The flows the test submits, recorded instead of run (``recorded_runs``)."""
    return recorded_runs


def tree_digest(root: Path) -> dict[bytes, str]:
    """Hash of every entry under root (names as bytes, symlinks by target)."""
    out: dict[bytes, str] = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out[path] = "link:" + os.fsdecode(os.readlink(path))
            elif os.path.isfile(path):
                out[path] = hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()
            else:
                out[path] = "dir"
    return out
