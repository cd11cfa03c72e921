"""Response bodies of the read API (the caller's favourites, resume points, ratings)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class FavouriteItem(BaseModel):
    movie_id: UUID
    added_at: datetime = Field(description="Client time of the change that added the film.")


class FavouritesPage(BaseModel):
    items: list[FavouriteItem] = Field(description="Newest change first.")
    limit: int
    offset: int
    total: int = Field(description="All of the caller's current favourites.")


class ProgressOut(BaseModel):
    movie_id: UUID
    position_ms: int = Field(description="Where to resume, ms from the start.")
    duration_ms: int | None = Field(description="Length of the film, ms, once a player sent it.")
    watched_seconds: int = Field(description="Total time watched, pauses excluded.")
    finished: bool = Field(description="The viewer reached the end at least once.")
    updated_at: datetime


class ContinueWatching(BaseModel):
    items: list[ProgressOut] = Field(description="Started, unfinished films; most recent first.")
    limit: int


class FilmRatingOut(BaseModel):
    movie_id: UUID
    average: float = Field(description="Mean of the current scores, rounded to 2 decimals.")
    count: int = Field(description="How many viewers rate the film now.")


class UserRatingOut(BaseModel):
    movie_id: UUID
    score: int = Field(ge=0, le=10)
    rated_at: datetime = Field(description="Client time of the caller's last rating change.")
