"""The archive's processes yield the CPU: copying attachments is background work.

On a small machine an archive at full speed takes CPU a sync's pacing needs: a request its client means to send on
its slot goes out late, bunches with the next, and Airtable answers the pair with a 429 and 30 s of penalty (one
benchmark run at full priority on a shared 2-core machine got two 429s and a sync 7 times slower; the runs at
lower priority got none). A process that lowers its priority still copies at full speed when the
CPU is idle, and waits when a sync or the fast lane needs it.
"""

from __future__ import annotations

import contextlib
import os

ARCHIVE_NICENESS = 10


def yield_cpu() -> None:
    """Lower this process's CPU priority to ``ARCHIVE_NICENESS`` (never raise it; a no-op where unsupported)."""
    with contextlib.suppress(AttributeError, OSError):
        current = os.nice(0)
        if current < ARCHIVE_NICENESS:
            os.nice(ARCHIVE_NICENESS - current)
