"""FerretDB up while its PostgreSQL is down (a database restart, or FerretDB starting first):
reads answer 503 with Retry-After, never 500, and recover once PostgreSQL is back."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from infra.stack.manager import Stack
from tests.api_support import api_client, auth_headers


@pytest.fixture
def postgres_restarted(stack: Stack) -> Iterator[None]:
    yield
    stack.start(stack.component("postgres"), lambda line: None)


@pytest.mark.slow
async def test_reads_answer_503_while_ferretdbs_postgres_is_down(
    stack, settings, postgres_restarted
):
    headers = auth_headers(settings)
    path = f"/api/v1/me/progress/{uuid.uuid4()}"
    async with api_client(settings) as api:
        assert (await api.get(path, headers=headers)).status_code == 404  # ready, nothing there

        assert await asyncio.to_thread(stack.component("postgres").process.stop)
        assert stack.component("ferretdb").process.pid() is not None
        down = await api.get(path, headers=headers)
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"] == str(settings.retry_after_s)
        assert down.json()["detail"].startswith("mongodb unavailable")

        await asyncio.to_thread(stack.start, stack.component("postgres"), lambda line: None)
        assert (await api.get(path, headers=headers)).status_code == 404
