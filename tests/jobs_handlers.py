"""Job handlers for the job runner's tests, loaded by the tests and by the ``compax worker``
processes they start (``worker_command``): each notes what it did, with its process id, in
the file its payload names (the periodic one in ``COMPAX_TEST_JOB_LOG``)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from compax_server.jobs.queue import JobContext, every, handler

#: Set in a worker process whose ``test_block`` jobs never finish (until it is killed).
BLOCK = "COMPAX_TEST_JOBS_BLOCK"
#: The period, in seconds, of ``test_tick`` in a worker process that runs it.
TICK = "COMPAX_TEST_JOBS_TICK"
TICK_LOG = "COMPAX_TEST_JOB_LOG"


def note(path: str | Path, line: str) -> None:
    """Append ``line`` and this process's id to ``path`` in one write."""
    with open(path, "a") as log:
        log.write(f"{line} {os.getpid()}\n")


def lines(path: Path) -> list[str]:
    """The notes in ``path`` without their process ids."""
    if not path.exists():
        return []
    return [line.rsplit(" ", 1)[0] for line in path.read_text().splitlines()]


@handler("test_record")
async def record(_ctx: JobContext, payload: dict[str, Any]) -> None:
    note(payload["log"], f"ran {payload['name']}")


@handler("test_block")
async def block(_ctx: JobContext, payload: dict[str, Any]) -> None:
    note(payload["log"], "started")
    if os.environ.get(BLOCK):
        await asyncio.Event().wait()
    note(payload["log"], "finished")


@handler("test_slow")
async def slow(_ctx: JobContext, payload: dict[str, Any]) -> None:
    note(payload["log"], "started")
    await asyncio.sleep(payload["seconds"])
    note(payload["log"], "finished")


@handler("test_fail")
async def fail(_ctx: JobContext, _payload: dict[str, Any]) -> None:
    raise RuntimeError("the mail server said no")


@handler("test_tick")
async def tick(_ctx: JobContext, payload: dict[str, Any]) -> None:
    note(os.environ[TICK_LOG], f"tick {payload['slot']}")


if os.environ.get(TICK):
    every("test_tick", int(os.environ[TICK]))


def worker_command() -> list[str]:
    """``compax worker`` with these handlers loaded, run from the repository's root."""
    start = "import tests.jobs_handlers; from compax_cli.main import run; run()"
    return [sys.executable, "-c", start, "worker"]
