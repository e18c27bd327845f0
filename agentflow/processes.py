"""Who holds something, and whether it still runs: `host:pid:incarnation` names of processes.

A scheduler's claim and a run record carry the name of the process that made them, so that one whose process
died (killed, out of memory, the machine rebooted) is told apart from one still at work. The incarnation (a
token per process start) tells a restarted container that reuses its pid from the one before.
"""

from __future__ import annotations

import os
import secrets
import socket

_INCARNATION = secrets.token_hex(4)


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_INCARNATION}"


def alive(owner: str) -> bool:
    """Whether the named process still runs; one on another host, or a name not of this form, is assumed to."""
    host, _, rest = owner.partition(":")
    pid, _, incarnation = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return incarnation == _INCARNATION
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
