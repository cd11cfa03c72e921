"""Read endpoints: the caller's favourites, resume points and ratings, and films' averages.

Served from the MongoDB projections the Faust worker maintains, so a write shows up here once
the worker has applied it. Everything under /me is the caller's own (the token's `sub`).
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from ingest_api.auth import CurrentCaller, current_caller
from ingest_api.errors import EDGE_RESPONSES, RETRY_AFTER, UNAUTHORIZED, error_response
from ingest_api.models import ErrorBody
from ingest_api.read_models import (
    ContinueWatching,
    FavouritesPage,
    FilmRatingOut,
    ProgressOut,
    UserRatingOut,
)
from ingest_api.services.reads import ReadService

READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **EDGE_RESPONSES,
    401: UNAUTHORIZED,
    422: error_response("Invalid path or query; `detail` names the field."),
    503: error_response(
        "MongoDB is unavailable (or nginx cannot reach the API); retry after Retry-After.",
        RETRY_AFTER,
    ),
}
# Deeper pages than any viewer's favourites can fill; also bounds what MongoDB is asked to
# skip (its skip is an int64: 2**63 answered 500).
MAX_OFFSET = 1_000_000


def _not_found(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"model": ErrorBody, "description": what}}


router = APIRouter(prefix="/api/v1", tags=["reads"], responses=READ_ERRORS)


async def read_service(request: Request) -> ReadService:
    service: ReadService = request.app.state.read_service
    return service


ReadServiceDep = Annotated[ReadService, Depends(read_service)]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1 to 100.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]


def _missing(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=detail)


@router.get("/me/favourites", response_model=FavouritesPage)
async def my_favourites(
    caller: CurrentCaller, service: ReadServiceDep, limit: Limit = 20, offset: Offset = 0
) -> FavouritesPage:
    """The caller's favourites, most recently added first; an empty page when there are none."""
    return await service.favourites(caller.user_id, limit, offset)


@router.get("/me/progress", response_model=ContinueWatching)
async def continue_watching(
    caller: CurrentCaller, service: ReadServiceDep, limit: Limit = 20
) -> ContinueWatching:
    """Continue watching: films started and not finished, most recently watched first."""
    return await service.continue_watching(caller.user_id, limit)


@router.get(
    "/me/progress/{movie_id}",
    response_model=ProgressOut,
    responses=_not_found("The caller has no progress in this film."),
)
async def my_progress(
    movie_id: UUID, caller: CurrentCaller, service: ReadServiceDep
) -> ProgressOut:
    """Where to resume the film, how long the caller watched it and whether they finished it."""
    progress = await service.progress(caller.user_id, movie_id)
    if progress is None:
        raise _missing("no progress for this film")
    return progress


@router.get(
    "/me/ratings/{movie_id}",
    response_model=UserRatingOut,
    responses=_not_found("The caller has not rated this film, or removed the rating."),
)
async def my_rating(
    movie_id: UUID, caller: CurrentCaller, service: ReadServiceDep
) -> UserRatingOut:
    """The caller's current score for the film."""
    rating = await service.user_rating(caller.user_id, movie_id)
    if rating is None:
        raise _missing("no rating of yours for this film")
    return rating


@router.get(
    "/films/{movie_id}/rating",
    response_model=FilmRatingOut,
    responses=_not_found("Nobody rates this film now."),
    dependencies=[Depends(current_caller)],  # any viewer may read it, but only a viewer
)
async def film_rating(movie_id: UUID, service: ReadServiceDep) -> FilmRatingOut:
    """The film's average score (2 decimals) and how many viewers rate it."""
    rating = await service.film_rating(movie_id)
    if rating is None:
        raise _missing("no ratings for this film")
    return rating
