"""Where Hearth reads the time, so that tests can set it instead of sleeping."""
from __future__ import annotations

import time
from datetime import datetime, tzinfo


class Clock:
    """The real clocks: monotonic for ages and expiries, wall time for logs, local time for schedules.
    The builtins themselves, not methods wrapping them: the DNS hot path reads the clock on every query."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    def now(self, tz: tzinfo) -> datetime:
        return datetime.fromtimestamp(self.time(), tz)


SYSTEM = Clock()
