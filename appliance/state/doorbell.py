"""A sink's writer sleeps while its queue is empty, and the first thing queued wakes it.

The alerts' and the budgets' sinks write a batch every couple of seconds. Waking every couple of seconds to find
nothing to write is what kept an idle Pi from sleeping; with a doorbell the writer waits for the first entry,
then keeps the same beat as before (batches on the same grid of ``every`` seconds from its start, so an entry
waits no longer than it did). The DNS side pays one attribute test per entry it queues::

    if self._bell.armed:
        self._bell.ring()
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

if TYPE_CHECKING:        # asyncio is imported where it runs: the CLI imports the sinks' modules, never runs them
    import asyncio


class Doorbell:
    def __init__(self) -> None:
        self.armed = False          # the writer sleeps: the next entry queued rings
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def ring(self) -> None:
        """From whoever queues (the event loop, or another thread): wake the writer."""
        self.armed = False
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:     # the loop has closed (a put after shutdown): nobody to wake, never raise
                pass

    async def wait(self, empty: Callable[[], bool]) -> None:
        """Return when something is queued (``empty()`` is False, or the bell rang)."""
        if self._event is None:
            import asyncio
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        self._event.clear()
        self.armed = True
        if not empty():     # queued before the bell was armed
            self.armed = False
            return
        try:
            await self._event.wait()
        finally:            # rung, or cancelled at shutdown: either way nobody waits now
            self.armed = False


async def beat(bell: Doorbell, empty: Callable[[], bool], flush: Callable[[], Awaitable[None]],
               every: float) -> None:
    """A writer loop: flush on a grid of ``every`` seconds, skipping the beats that would find nothing."""
    import asyncio
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        await bell.wait(empty)
        await asyncio.sleep(every - (loop.time() - start) % every)
        await flush()
