"""The dev stack's lifeline: its children die with ``airtable-pg dev``, however it dies (SIGKILL included).

Each child runs in a session of its own (so the terminal's Ctrl-C reaches only the supervisor, which stops
them in order), and so would outlive a supervisor that cannot run its clean-up: a ``kill -9``, an OOM kill,
a crash. The supervisor therefore starts this small process first, in a session of its own too, and writes
each child's process group to its stdin, a pipe only the supervisor holds open (pipes are close-on-exec, so
no child inherits the writing end). However the supervisor ends, the kernel closes that end; the lifeline
reads end-of-file and stops every group it was given: SIGTERM, then SIGKILL after ``grace`` seconds for what
is still there. Groups, not processes: Dagster's webserver, daemon, code server and run workers go too.

After a graceful stop the groups are already gone and the lifeline just exits. It imports nothing but the
standard library, so it is ready long before the first child starts.

Run as ``python -m airtable_pg.cli.lifeline [grace_seconds]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

DEFAULT_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.05


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of the group belongs to someone else: alive
        return True
    return True


def signal_groups(groups: set[int], signum: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)


def stop_groups(groups: set[int], grace: float) -> None:
    """SIGTERM every group, wait up to ``grace`` for them to go, then SIGKILL what is left."""
    signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = {pgid for pgid in groups if group_alive(pgid)}
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)  # no event tells another session's group is gone: poll it
        alive = {pgid for pgid in alive if group_alive(pgid)}
    signal_groups(alive, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    grace = float(args[0]) if args else DEFAULT_GRACE_SECONDS
    # The supervisor's Ctrl-C or SIGTERM is not ours: we end when its pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:  # blocks until the supervisor writes a group or ends
        with contextlib.suppress(ValueError):
            groups.add(int(line))
    stop_groups({pgid for pgid in groups if pgid > 1}, grace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
