"""Who holds something, and whether it still runs: `host:pid:incarnation` names of processes.

A scheduler's claim and a run record carry the name of the process that made them, so that one whose process
died (killed, out of memory, the machine rebooted) is told apart from one still at work. The incarnation (a
token per process start) tells a restarted container that reuses its pid from the one before.
"""

from __future__ import annotations

import os
import secrets
import socket
import time

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


def age() -> float:
    """Seconds since this process started: what a person at a terminal waited, interpreter start-up and imports
    included. From the kernel's start time on Linux (`/proc/self/stat` field 22, in clock ticks since boot,
    against CLOCK_BOOTTIME, proc(5)); elsewhere from when the `agentflow` package was first imported."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            # The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
            fields = stat.read().rpartition(")")[2].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        import agentflow

        return time.monotonic() - agentflow.IMPORTED
