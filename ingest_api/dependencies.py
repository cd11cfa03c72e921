"""What the routes get from the app state (built once in the lifespan).

FastAPI runs plain `def` dependencies in a thread pool, so these are `async def`. The write
endpoints take one dependency, WriteContext, because each extra dependency costs on the
hottest path of the service.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ingest_api.auth import BearerCredentials, Caller, authenticate
from ingest_api.gateways.event_log import KafkaEventLog
from ingest_api.services.events import EventService
from ugc.settings import Settings


@dataclass(frozen=True, slots=True)
class WriteContext:
    caller: Caller
    service: EventService
    settings: Settings


async def write_context(request: Request, credentials: BearerCredentials) -> WriteContext:
    state = request.app.state
    return WriteContext(authenticate(request, credentials), state.event_service, state.settings)


async def get_event_log(request: Request) -> KafkaEventLog:
    event_log: KafkaEventLog = request.app.state.event_log
    return event_log


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


WriteContextDep = Annotated[WriteContext, Depends(write_context)]
EventLogDep = Annotated[KafkaEventLog, Depends(get_event_log)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
