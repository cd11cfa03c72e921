"""Objects the routes get from the app state (built once in the lifespan).

FastAPI runs plain `def` dependencies in a thread pool; these are `async def` to stay on the loop.
"""

from typing import Annotated

from fastapi import Depends, Request

from ingest_api.gateways.event_log import KafkaEventLog
from ingest_api.services.events import EventService
from ugc.settings import Settings


async def get_event_service(request: Request) -> EventService:
    service: EventService = request.app.state.event_service
    return service


async def get_event_log(request: Request) -> KafkaEventLog:
    event_log: KafkaEventLog = request.app.state.event_log
    return event_log


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EventServiceDep = Annotated[EventService, Depends(get_event_service)]
EventLogDep = Annotated[KafkaEventLog, Depends(get_event_log)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
