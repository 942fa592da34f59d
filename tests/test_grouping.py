"""``grouping.Grouped``: calls that arrive while a group is in flight go together in the next."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from compax_server.grouping import Grouped
from sync.errors import Unavailable


class Doubler:
    """A group runner that doubles numbers, refuses negative ones, and records its groups."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.release = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.groups.append(list(items))
        await self.release.wait()
        return [ValueError(f"{n} is negative") if n < 0 else 2 * n for n in items]


async def test_calls_made_while_a_group_runs_go_together_in_the_next_one() -> None:
    run = Doubler()
    grouped = Grouped(run, largest=10)

    first = asyncio.ensure_future(grouped(1))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(grouped(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    run.release.set()

    assert [await first] + [await call for call in later] == [2, 4, 6, 8]
    assert run.groups == [[1], [2, 3, 4]], "the first call went alone, the rest waited"


async def test_a_caller_answered_asks_again_in_time_for_the_next_group() -> None:
    """After a group of several calls the event loop gets its passes: a caller answered in that
    group who asks again at once (as a client does) joins the calls already waiting in the
    next; without passes it would wait for a third group."""
    for passes, expected in ((8, [[1, 5], [2, 3, 11]]), (0, [[1, 5], [2, 3], [11]])):
        run = Doubler()
        grouped = Grouped(run, largest=10, passes=passes)

        async def ask_twice(n: int, grouped: Grouped[int, int] = grouped) -> list[int]:
            return [await grouped(n), await grouped(n + 10)]

        first = [asyncio.ensure_future(ask_twice(1)), asyncio.ensure_future(grouped(5))]
        await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(grouped(n)) for n in (2, 3)]
        await asyncio.sleep(0)
        run.release.set()

        assert await first[0] == [2, 22] and await first[1] == 10
        assert [await call for call in waiting] == [4, 6]
        assert run.groups == expected, f"with {passes} passes"


async def test_an_item_refused_in_a_group_fails_only_its_own_call() -> None:
    run = Doubler()
    run.release.set()
    grouped = Grouped(run, largest=10)

    results = await asyncio.gather(grouped(1), grouped(-1), grouped(3), return_exceptions=True)

    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)


async def test_groups_are_no_larger_than_largest_and_keep_arrival_order() -> None:
    run = Doubler()
    run.release.set()
    grouped = Grouped(run, largest=3)

    assert await asyncio.gather(*(grouped(n) for n in range(8))) == [2 * n for n in range(8)]
    assert [n for group in run.groups for n in group] == list(range(8))
    assert max(len(group) for group in run.groups) <= 3


async def test_a_runner_that_fails_as_a_whole_fails_every_call_of_its_group() -> None:
    async def broken(items: Sequence[int]) -> list[int | BaseException]:
        raise ConnectionError("the database went away")

    grouped: Grouped[int, int] = Grouped(broken, largest=10)

    results = await asyncio.gather(*(grouped(n) for n in range(4)), return_exceptions=True)

    assert all(isinstance(result, ConnectionError) for result in results)
    with pytest.raises(ConnectionError):
        await grouped(5)


async def test_a_caller_that_goes_away_does_not_stop_its_group() -> None:
    run = Doubler()
    grouped = Grouped(run, largest=10)
    leaving = asyncio.ensure_future(grouped(1))
    staying = asyncio.ensure_future(grouped(2))
    await asyncio.sleep(0)

    leaving.cancel()
    run.release.set()

    assert await staying == 4
    await grouped.close()
    assert run.groups == [[1, 2]], "the group of the caller that left still ran"


async def test_a_wrong_number_of_results_fails_that_group_only() -> None:
    async def short(items: Sequence[int]) -> Sequence[int | BaseException]:
        await asyncio.sleep(0)
        return [2 * n for n in items][: 1 if 0 in items else None]

    grouped: Grouped[int, int] = Grouped(short, largest=2)

    results = await asyncio.gather(*(grouped(n) for n in range(4)), return_exceptions=True)

    assert all(isinstance(result, RuntimeError) for result in results[:2]), results
    assert results[2:] == [4, 6], "the groups after the broken one still ran"


async def test_calls_still_waiting_when_the_server_stops_are_answered_unavailable() -> None:
    run = Doubler()
    grouped = Grouped(run, largest=10)
    running = asyncio.ensure_future(grouped(1))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(grouped(2))
    await asyncio.sleep(0)

    runner = grouped._runner
    assert runner is not None
    runner.cancel()
    results = await asyncio.gather(running, waiting, return_exceptions=True)

    assert all(isinstance(result, Unavailable) for result in results), results
    run.release.set()
    assert await grouped(3) == 6, "a new call starts a new runner"
