"""Living through a dependency's outage: back off between tries and log once when it goes and once when it is back."""

from __future__ import annotations

import logging


class Backoff:
    """Exponential delays between tries: 1, 2, 4... seconds up to `cap`, back to the start after a success."""

    def __init__(self, *, first: float = 1.0, cap: float = 15.0) -> None:
        self.first, self.cap, self._next = first, cap, first

    def next(self) -> float:
        """The delay before the next try."""
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        """A try succeeded: the next outage starts with a short delay again."""
        self._next = self.first


class Outage:
    """Remembers whether a dependency is down, so that an outage is one warning, not a traceback per try."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log, self.what = log, what
        self.down = False
        self.backoff = Backoff()

    def failed(self, exc: BaseException) -> float:
        """Record a failed try; log it the first time only. Returns how long to wait before the next try."""
        if not self.down:
            self.down = True
            self.log.warning("%s: unavailable (%s: %s); retrying with backoff", self.what, type(exc).__name__, exc)
        return self.backoff.next()

    def ok(self) -> bool:
        """Record a successful try; True (and logged) when it ends an outage."""
        self.backoff.reset()
        if self.down:
            self.down = False
            self.log.warning("%s: available again", self.what)
            return True
        return False
