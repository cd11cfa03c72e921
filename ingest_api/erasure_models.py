"""Response bodies of the erasure endpoints (DELETE /me, GET /me/erasure/{id})."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

ErasureState = Literal["pending", "complete", "failed"]


class ErasureAccepted(BaseModel):
    erasure_id: UUID = Field(description="Ask GET /api/v1/me/erasure/{erasure_id} for progress.")
    status: Literal["accepted"] = "accepted"


class ErasureOut(BaseModel):
    erasure_id: UUID
    status: ErasureState = Field(
        description="complete: nothing of the viewer from before the request is left in any "
        "store; failed: the request did not reach every partition, ask for a new erasure."
    )
    requested_at: datetime
    parts_done: int = Field(description="Stores and partitions that erased their share.")
    parts_total: int
    pending: list[str] = Field(description="Parts still to report, e.g. mongodb:ugc.viewing[3].")
    failed: str | None = Field(default=None, description="Why the request failed.")
