"""A clock a test moves instead of waiting: epoch seconds, for a sandbox site and a credential store alike."""

from __future__ import annotations

import time


class Clock:
    """Starts at the real time; `now` is moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now
