"""Work nobody will read is stopped: a route's work, cancelled when its client disconnects.

Starlette does not cancel a route whose client went away; a long route (an upload's
conversion) would run to its end for nobody. ``unless_client_leaves`` runs the work beside
a watcher of the request's ``receive``: once the body has been read, the next message the
server sends is ``http.disconnect``, when the client closes the connection (or after the
response, when the watcher is no longer needed). Then the work's ``threading.Event`` is set
(for a worker thread to see between two steps), its anyio cancel scope is cancelled and the
work waited for, and the request ends with ``ResponseAborted``: no response, one access log
line saying why. An anyio scope rather than ``Task.cancel``: it respects the shield around a
worker thread (``anyio.to_thread.run_sync``), so the work ends only once its thread has
stopped, and nothing it holds (a conversion slot, staged files) is let go before that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.types import Receive

from shared.request_context import ResponseAborted

T = TypeVar("T")

log = logging.getLogger("disconnect")


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_client_leaves(
    receive: Receive, work: Callable[[threading.Event], Awaitable[T]], *, what: str
) -> T:
    """``await work(cancel)``, unless the client disconnects first: then ``cancel`` is set,
    the work cancelled, and ``ResponseAborted`` raised once it has stopped."""
    cancel = threading.Event()
    scope = anyio.CancelScope()
    gone = ResponseAborted(f"the client disconnected during {what}")

    async def scoped() -> T:
        with scope:
            return await work(cancel)
        raise gone  # only reached when the scope was cancelled

    working = asyncio.ensure_future(scoped())
    watching = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
        if working.done():
            return working.result()
        cancel.set()
        scope.cancel()
        await asyncio.wait({working})
        with contextlib.suppress(Exception):
            working.result()  # how it stopped does not matter any more: nobody is listening
        log.info("client disconnected: %s stopped", what)
        raise gone
    finally:
        for task in (working, watching):
            if not task.done():
                task.cancel()
        await asyncio.wait({working, watching})
