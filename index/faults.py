"""Named fault points for tests: ``TANDEM_CRASH_AT=<name>`` kills the process there, and
``TANDEM_STALL_AT=<name>`` holds the calling thread there (as work stuck on a pathological input would).

Only tests set the variables; in normal use :func:`crash_point` and :func:`stall_point` are a dictionary lookup.
"""
from __future__ import annotations

import os
import signal
import time

ENV = "TANDEM_CRASH_AT"
STALL_ENV = "TANDEM_STALL_AT"
STALL_SECONDS_ENV = "TANDEM_STALL_SECONDS"  # how long a stall lasts (default 600 s)


def crash_point(name: str) -> None:
    """SIGKILL this process (no clean-up, as a power cut or ``kill -9``) when the test asked for ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def stall_point(name: str) -> None:
    """Block the calling thread (``TANDEM_STALL_SECONDS``, default 600 s) when the test asked for ``name``."""
    if os.environ.get(STALL_ENV) == name:
        time.sleep(float(os.environ.get(STALL_SECONDS_ENV, "600")))
