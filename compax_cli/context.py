"""The engine a command works through, for the profile the command line chose."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from compax_cli.output import SIGN_IN_FIRST, online, reported
from sync.admin import Admin
from sync.engine import Engine
from sync.errors import NotAuthenticated, ValidationFailed, field_errors
from sync.profiles import Profile

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)


@contextmanager
def engine(ctx: typer.Context, *, signed_in: bool = True) -> Iterator[Engine]:
    """The profile's engine, closed after the command; failures reported as one line.

    Unless ``signed_in`` is false (signing in, out, and saying who is), the profile must have
    signed in and not out since: an expired sign-in still reads and queues offline, but a
    profile never signed in, or signed out, is told to sign in first (exit 4).
    """
    with reported():
        profile = Profile.load((ctx.obj or {}).get("profile"))
        if signed_in and not profile.replica_path.exists():
            raise NotAuthenticated(SIGN_IN_FIRST)
        opened = Engine(profile, client="cli")
        try:
            if signed_in and opened.user is None:
                raise NotAuthenticated(SIGN_IN_FIRST)
            yield opened
        finally:
            opened.close()


def now() -> datetime:
    return datetime.now(UTC)


def administer(compax: Engine, call: Callable[[Admin], Coroutine[Any, Any, T]]) -> T:
    """Run one administrative ``call`` on the profile's server (these need the network)."""
    with online("nothing was changed; this needs the server"):
        return asyncio.run(call(Admin(compax)))


def validated(schema: type[ModelT], **values: Any) -> ModelT:
    """``schema`` built from the options given (``None`` left out), bad ones named by field."""
    try:
        return schema.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None
