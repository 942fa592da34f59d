"""Bulk upserts for imports: every row validated and written on its own, in one transaction.

Each row runs in a savepoint, so a bad row is reported (with its field and reason) and rolled
back alone while the others go in. Rows are matched to existing records on their natural key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from compax_server.db import Database
from sync.errors import CompaxError, FieldError, ValidationFailed, field_errors
from sync.schemas import BulkResponse, BulkRowResult, BulkStatus

CreateT = TypeVar("CreateT", bound=BaseModel)
KeyT = TypeVar("KeyT", bound=Hashable)
RowT = TypeVar("RowT")


@dataclass
class BulkBatch(Generic[CreateT]):
    """The rows of one bulk request, validated, with the rejected ones already answered."""

    valid: list[tuple[int, CreateT]] = field(default_factory=list)
    results: dict[int, BulkRowResult] = field(default_factory=dict)

    @classmethod
    def validate(cls, rows: Sequence[dict[str, Any]], schema: type[CreateT]) -> BulkBatch[CreateT]:
        batch: BulkBatch[CreateT] = cls()
        for index, raw in enumerate(rows):
            try:
                batch.valid.append((index, schema.model_validate(raw)))
            except ValidationError as exc:
                batch.results[index] = _rejected(index, field_errors(exc))
        return batch

    async def apply(
        self,
        db: Database,
        key: Callable[[CreateT], KeyT],
        load: Callable[[AsyncSession, list[KeyT]], Awaitable[dict[KeyT, RowT]]],
        upsert: Callable[[AsyncSession, CreateT, RowT | None], Awaitable[tuple[BulkStatus, RowT]]],
    ) -> BulkResponse:
        """Upsert the valid rows in order (a later row with the same key updates an earlier one)."""
        if self.valid:
            async with db.write() as session:
                existing = await load(session, [key(data) for _, data in self.valid])
                for index, data in self.valid:
                    self.results[index] = await _upsert_one(
                        session, index, data, key(data), existing, upsert
                    )
        results = [self.results[i] for i in sorted(self.results)]
        counts = Counter(result.status for result in results)
        return BulkResponse(
            results=results, summary={status: counts[status] for status in BulkStatus}
        )


async def _upsert_one(
    session: AsyncSession,
    index: int,
    data: CreateT,
    key: KeyT,
    existing: dict[KeyT, RowT],
    upsert: Callable[[AsyncSession, CreateT, RowT | None], Awaitable[tuple[BulkStatus, RowT]]],
) -> BulkRowResult:
    try:
        async with session.begin_nested():
            status, row = await upsert(session, data, existing.get(key))
            await session.flush()
    except ValidationFailed as exc:
        return _rejected(index, exc.errors)
    except CompaxError as exc:
        return _rejected(index, [FieldError(str(exc.extra.get("field", "row")), exc.detail)])
    except IntegrityError:
        return _rejected(index, [FieldError("row", "conflicts with another record")])
    existing[key] = row
    return BulkRowResult(index=index, status=status, id=getattr(row, "id", None))


def _rejected(index: int, errors: list[FieldError]) -> BulkRowResult:
    return BulkRowResult(
        index=index, status=BulkStatus.REJECTED, errors=[e.as_dict() for e in errors]
    )
