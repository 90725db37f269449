"""How a job talks to its front end: progress and cancellation through a :class:`Callback`, stages with shared
names, the epoch line, names made safe to print (:func:`printable`), and one error hierarchy whose messages name
settings the way the front end asks."""

from __future__ import annotations

from ..callbacks import Callback, QuietCallback, Stage, epoch_line, epoch_status, time_left
from ..errors import (
    COMMANDS,
    BundleError,
    CanceledError,
    ConfigError,
    DataError,
    DependencyError,
    DualStreamError,
    plain_name,
    render,
)
from ..text import printable

__all__ = ["COMMANDS", "BundleError", "Callback", "CanceledError", "ConfigError", "DataError", "DependencyError",
           "DualStreamError", "QuietCallback", "Stage", "epoch_line", "epoch_status", "plain_name", "printable",
           "render", "time_left"]
