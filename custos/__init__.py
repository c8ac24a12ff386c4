"""Custos: a digital-preservation processor.

The public surface is small: settings, errors and the models. Everything else is
imported from its own module (``custos.recorder``, ``custos.dispatch`` ...).

Importing ``custos`` keeps Prefect offline and quiet for the whole process
(``custos.runtime.env.quiet_prefect``): it must happen before Prefect is imported.
"""

from custos.runtime.env import quiet_prefect

quiet_prefect()  # before anything below can import Prefect

from custos.errors import (  # noqa: E402
    ConfigError,
    CustosError,
    FixityMismatch,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageError,
    ToolFailed,
)
from custos.settings import Settings, get_settings  # noqa: E402

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
