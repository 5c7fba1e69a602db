"""Named crash points for fault-injection tests: ``TANDEM_CRASH_AT=<name>`` kills the process there.

Only tests set the variable; in normal use :func:`crash_point` is a dictionary lookup.
"""
from __future__ import annotations

import os
import signal

ENV = "TANDEM_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process (no clean-up, as a power cut or ``kill -9``) when the test asked for ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
