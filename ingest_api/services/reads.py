"""What the read endpoints answer: projections shaped for clients, None where nothing is there."""

from uuid import UUID

from ingest_api.read_models import (
    ContinueWatching,
    FavouriteItem,
    FavouritesPage,
    FilmRatingOut,
    ProgressOut,
    UserRatingOut,
)
from sinks.mongo.documents import Progress
from sinks.mongo.reads import ProjectionReads


def _progress_out(progress: Progress) -> ProgressOut:
    return ProgressOut(
        movie_id=UUID(progress.movie_id),
        position_ms=progress.position_ms,
        duration_ms=progress.duration_ms,
        watched_seconds=progress.watched_seconds,
        finished=progress.finished,
        updated_at=progress.updated_at,
    )


class ReadService:
    def __init__(self, projections: ProjectionReads) -> None:
        self._projections = projections

    async def favourites(self, user_id: UUID, limit: int, offset: int) -> FavouritesPage:
        found, total = await self._projections.list_favourites(user_id, limit, offset)
        items = [FavouriteItem(movie_id=UUID(f.movie_id), added_at=f.changed_at) for f in found]
        return FavouritesPage(items=items, limit=limit, offset=offset, total=total)

    async def progress(self, user_id: UUID, movie_id: UUID) -> ProgressOut | None:
        progress = await self._projections.get_progress(user_id, movie_id)
        return None if progress is None else _progress_out(progress)

    async def continue_watching(self, user_id: UUID, limit: int) -> ContinueWatching:
        found = await self._projections.continue_watching(user_id, limit)
        return ContinueWatching(items=[_progress_out(p) for p in found], limit=limit)

    async def film_rating(self, movie_id: UUID) -> FilmRatingOut | None:
        """The average of the current scores; None while nobody rates the film."""
        rating = await self._projections.get_film_rating(movie_id)
        if rating is None or rating.score_count <= 0:
            return None
        average = round(rating.score_sum / rating.score_count, 2)
        return FilmRatingOut(movie_id=movie_id, average=average, count=rating.score_count)

    async def user_rating(self, user_id: UUID, movie_id: UUID) -> UserRatingOut | None:
        """The caller's score; None if they never rated the film or removed the rating."""
        rating = await self._projections.get_user_rating(user_id, movie_id)
        if rating is None or rating.score is None:
            return None
        return UserRatingOut(movie_id=movie_id, score=rating.score, rated_at=rating.changed_at)
