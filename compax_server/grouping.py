"""Group work that arrives at the same time: calls made while a group is in flight wait, in
arrival order, and all go into the next group.

Under load a server process receives many requests that each need a database round trip of
the same kind (the caller's user record, a booking). Sent one by one they queue for pool
connections and pay a round trip (or a transaction, and its commit) each; grouped, they share
one. Nobody waits for a timer: a call that finds no group in flight starts one of its own at
once, so a quiet server answers as fast as before, and groups grow only while the database is
busy. One group at a time: under load the groups grow instead, and a larger group costs less
an item (two in flight made smaller booking groups and cost more CPU, docs/benchmarks.md).

Where a group is costly (a booking transaction), the event loop may get a few passes after a
group of several calls, before the next (never a wait): the callers just answered send their
answers before the next group's first statement, and requests already in the sockets are read
and join that group. Under load the booking groups grew by a third so (docs/benchmarks.md).
Each pass costs a poll of the sockets, so a cheap group (a user lookup) takes none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sync.errors import Unavailable

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: Runs one group: a result, or the exception to raise, for each item, in order.
GroupRunner = Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT | BaseException]]]


@dataclass
class _Call(Generic[ItemT, ResultT]):
    item: ItemT
    answer: asyncio.Future[ResultT]


class Grouped(Generic[ItemT, ResultT]):
    """Calls ``run`` on groups of the items passed to ``__call__``, one group at a time and at
    most ``largest`` items a group; after a group of several, the event loop gets ``passes``
    passes before the next."""

    def __init__(self, run: GroupRunner[ItemT, ResultT], *, largest: int, passes: int = 0) -> None:
        self._run = run
        self._largest = largest
        self._passes = passes
        self._waiting: list[_Call[ItemT, ResultT]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, item: ItemT) -> ResultT:
        """The result of ``item`` in the group it joins, or the exception raised for it."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_waiting())
        call: _Call[ItemT, ResultT] = _Call(item, self._runner.get_loop().create_future())
        self._waiting.append(call)
        # If this caller goes away meanwhile, its answer is cancelled but its group goes on:
        # the item may already be part of a transaction that commits.
        return await call.answer

    async def close(self) -> None:
        """Wait for the calls already made; called when the server stops."""
        if self._runner is not None:
            await asyncio.shield(self._runner)

    async def _run_waiting(self) -> None:
        group: list[_Call[ItemT, ResultT]] = []
        try:
            while self._waiting:
                group = self._waiting[: self._largest]
                del self._waiting[: self._largest]
                await self._answer(group)
                for _ in range(self._passes if len(group) > 1 else 0):
                    await asyncio.sleep(0)
        finally:
            self._runner = None
            # Only when cancelled (the server is stopping) is a call left unsettled: it must
            # not wait for ever.
            for call in (*group, *self._waiting):
                if not call.answer.done():
                    call.answer.set_exception(Unavailable("The server is stopping; try again"))
            self._waiting.clear()

    async def _answer(self, group: list[_Call[ItemT, ResultT]]) -> None:
        """Run one group and settle each of its calls with its own result or exception."""
        try:
            results = await self._run([call.item for call in group])
            if len(results) != len(group):
                raise RuntimeError(f"a group of {len(group)} got {len(results)} results")
        except Exception as error:  # the runner failed as a whole: so did each item
            results = [error] * len(group)
        for call, result in zip(group, results, strict=True):
            if call.answer.cancelled():  # its caller went away
                continue
            if isinstance(result, BaseException):
                call.answer.set_exception(result)
            else:
                call.answer.set_result(result)
