"""Erasing the caller's data (GDPR): DELETE /me, then GET /me/erasure/{id} until complete."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from ingest_api.auth import CurrentCaller
from ingest_api.erasure_models import ErasureAccepted, ErasureOut
from ingest_api.errors import EDGE_RESPONSES, RETRY_AFTER, UNAUTHORIZED, error_response
from ingest_api.models import ErrorBody
from ingest_api.services.erasure import ErasureService

UNAVAILABLE = error_response(
    "MongoDB, Kafka or the registry is unavailable (or nginx cannot reach the API); retry "
    "after Retry-After.",
    RETRY_AFTER,
)
ERRORS: dict[int | str, dict[str, Any]] = {**EDGE_RESPONSES, 401: UNAUTHORIZED, 503: UNAVAILABLE}

router = APIRouter(prefix="/api/v1", tags=["erasure"], responses=ERRORS)


async def get_erasure_service(request: Request) -> ErasureService:
    service: ErasureService = request.app.state.erasure_service
    return service


ErasureServiceDep = Annotated[ErasureService, Depends(get_erasure_service)]


LOCATION = {
    "Location": {"description": "Where to follow the erasure.", "schema": {"type": "string"}}
}
ACCEPTED = {
    "description": "The erasure's markers are in Kafka; the workers erase.",
    "headers": LOCATION,
}


@router.delete(
    "/me",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ErasureAccepted,
    responses={202: ACCEPTED},
)
async def erase_me(
    caller: CurrentCaller, service: ErasureServiceDep, response: Response
) -> ErasureAccepted:
    """Erase everything the service holds of the caller: progress, favourites, ratings (and
    their share of films' averages), raw events and watch time. Events sent before this request
    are erased, even those still being processed; events sent after its 202 are kept."""
    erasure_id = await service.erase(caller.user_id)
    response.headers["Location"] = f"/api/v1/me/erasure/{erasure_id}"
    return ErasureAccepted(erasure_id=UUID(erasure_id))


@router.get(
    "/me/erasure/{erasure_id}",
    response_model=ErasureOut,
    responses={
        404: {"model": ErrorBody, "description": "No erasure of the caller has this id."},
        422: error_response("`erasure_id` is not a UUID; `detail` names it."),
    },
)
async def my_erasure(
    erasure_id: UUID, caller: CurrentCaller, service: ErasureServiceDep
) -> ErasureOut:
    """Progress of one of the caller's erasures: complete once every store erased its share."""
    found = await service.status(erasure_id, caller.user_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such erasure of yours")
    return found
