"""SQLModel table models: the server's database schema (migrations in ``migrations/``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from sync.schemas import BuildingBase, RoomBase, TermBase, UserBase
from sync.sqltypes import UTCDateTime


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(default="student", sa_type=String(32), index=True)
    password_hash: str = Field(max_length=255)
    token_generation: int = Field(default=0, description="Bumped to revoke every token issued.")
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Building(BuildingBase, table=True):
    __tablename__ = "buildings"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="academic", sa_type=String(32))
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Room(RoomBase, table=True):
    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("building_id", "code", name="uq_rooms_building_code"),)

    id: int | None = Field(default=None, primary_key=True)
    building_id: int = Field(foreign_key="buildings.id", ondelete="RESTRICT")
    kind: str = Field(default="classroom", sa_type=String(32), index=True)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class RoomFeature(SQLModel, table=True):
    """One feature of one room, normalised so that feature filters use an index."""

    __tablename__ = "room_features"
    __table_args__ = (Index("ix_room_features_feature_room", "feature", "room_id"),)

    room_id: int = Field(foreign_key="rooms.id", primary_key=True, ondelete="CASCADE")
    feature: str = Field(primary_key=True, max_length=40)


class Term(TermBase, table=True):
    __tablename__ = "terms"

    id: int | None = Field(default=None, primary_key=True)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
