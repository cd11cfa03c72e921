"""The API with several uvicorn workers (UGC_API_WORKERS), as `ugc run` starts it: whichever
worker answers a scrape, /metrics counts the requests and events of all of them."""

import re
import socket
import uuid

import httpx

from tests.api_support import auth_headers
from tests.proc_support import descendants
from tests.server_support import ApiServer

WORKERS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _produced(text: str) -> float:
    return sum(
        float(v)
        for v in re.findall(r'^ugc_events_produced_total\{type="viewing"\} ([\d.e+]+)$', text, re.M)
    )


def test_metrics_count_the_requests_of_every_worker(stack, settings, tmp_path):
    own = settings.model_copy(update={"api_port": _free_port(), "api_workers": WORKERS})
    server = ApiServer(own, tmp_path / "api.log")
    server.start()
    try:
        assert server.process is not None
        # uvicorn's supervisor and its workers (multiprocessing may add a helper process).
        assert len(descendants(server.process.pid)) >= WORKERS
        headers = auth_headers(settings)
        sent = 60
        # A connection per request: uvicorn's workers share the socket, so both serve some.
        for _ in range(sent):
            body = {"movie_id": str(uuid.uuid4()), "watched_seconds": 1}
            response = httpx.post(
                f"{server.direct}/api/v1/events/viewing", json=body, headers=headers, timeout=10
            )
            assert response.status_code == 202, response.text
        scrapes = [httpx.get(f"{server.direct}/metrics", timeout=10).text for _ in range(10)]
        assert {_produced(text) for text in scrapes} == {sent}
        requests = re.findall(r"^ugc_http_requests_total\{(.*)\} ([\d.e+]+)$", scrapes[0], re.M)
        viewing = [
            float(value)
            for labels, value in requests
            if 'route="/api/v1/events/viewing"' in labels and 'status="202"' in labels
        ]
        assert viewing == [sent]
    finally:
        server.stop()
