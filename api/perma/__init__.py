"""Perma.cc's v1 API under ``/v1/`` over the shared capture model (capture.md section 1)."""

from __future__ import annotations

from . import archives, batches, folders
from .errors import PermaRouter
from .site import install

router = PermaRouter(prefix="/v1", tags=["perma"])
router.include_router(batches.router)  # before archives: /archives/batches vs {guid}
router.include_router(archives.router)
router.include_router(folders.router)

__all__ = ["install", "router"]
