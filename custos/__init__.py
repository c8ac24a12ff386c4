"""Custos: a digital-preservation processor.

The public surface is small: settings, errors and the models. Everything else is
imported from its own module (``custos.recorder``, ``custos.dispatch`` ...).
"""

from custos.errors import (
    ConfigError,
    CustosError,
    FixityMismatch,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageError,
    ToolFailed,
)
from custos.settings import Settings, get_settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CustosError",
    "FixityMismatch",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Settings",
    "StorageError",
    "ToolFailed",
    "__version__",
    "get_settings",
]
