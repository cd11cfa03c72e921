"""The edge as clients meet it, on real sockets: the stack's nginx in front of the API run by
uvicorn with the command of `ugc run` (the `api_server` fixture)."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from ingest_api.limits import parse_nginx_size
from tests.api_support import auth_headers
from tests.net_support import closed_by_server, listening_hosts, raw_request, sockets_of
from tests.proc_support import descendants
from ugc.settings import Settings

# Headers promising a long body, then a few bytes of it: the client stalls.
STALLED_BODY = (
    b"POST /api/v1/events/viewing HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    b'{"movie_id": '
)
# uvicorn's default keep-alive, after which it used to close idle connections nginx reused.
OLD_UVICORN_KEEPALIVE_S = 5.0


def test_a_stalled_body_is_cut_off_through_nginx_and_directly(api_server, settings):
    timeout_s = settings.client_timeout_s
    bound_s = timeout_s + 5.0
    with ThreadPoolExecutor(2) as pool:  # both wait out the same timeout at once
        via_nginx = pool.submit(
            raw_request, settings.api_host, settings.nginx_port, STALLED_BODY, bound_s
        )
        direct = pool.submit(
            raw_request, settings.api_host, settings.api_port, STALLED_BODY, bound_s
        )
        nginx_response, api_response = via_nginx.result(), direct.result()

    # nginx, by design, closes on a client timeout without answering (it logs a 408).
    assert nginx_response.status is None and nginx_response.body == b"", nginx_response
    assert timeout_s - 1.0 <= nginx_response.elapsed_s <= bound_s

    assert api_response.status == 408, api_response
    assert api_response.headers["content-type"] == "application/json"
    assert api_response.headers["connection"] == "close"
    assert "did not arrive" in json.loads(api_response.body)["detail"]
    assert timeout_s - 1.0 <= api_response.elapsed_s <= bound_s


def test_a_declared_body_over_the_limit_is_413_json_on_the_api_port(api_server, settings):
    too_long = parse_nginx_size(settings.nginx_body_limit) + 1
    request = (
        b"POST /api/v1/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(too_long).encode() + b"\r\n\r\n" + b'{"events": ['
    )
    response = raw_request(settings.api_host, settings.api_port, request, 5.0)
    assert response.status == 413, response
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body) == {
        "detail": f"request body is larger than {settings.nginx_body_limit}"
    }


def test_a_chunked_body_over_the_limit_is_413_json_on_the_api_port(api_server, settings):
    limit = parse_nginx_size(settings.nginx_body_limit)
    chunk = b"x" * 65536
    chunks = [chunk] * (limit // len(chunk)) + [b"x" * (limit % len(chunk) + 1)]
    # The last byte over the limit is the last one sent: the API has read all there is.
    request = (
        b"POST /api/v1/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    )
    response = raw_request(settings.api_host, settings.api_port, request, 10.0)
    assert response.status == 413, response
    assert response.headers["content-type"] == "application/json"
    assert "larger than" in json.loads(response.body)["detail"]


def test_a_body_within_the_limit_still_reaches_the_api(api_server, settings):
    response = httpx.post(
        f"{api_server.direct}/api/v1/events/viewing",
        json={"movie_id": str(uuid.uuid4()), "watched_seconds": 5},
        headers=auth_headers(settings),
        timeout=10.0,
    )
    assert response.status_code == 202, response.text


def test_posts_after_idle_gaps_through_nginx_never_get_503(stack, api_server, settings):
    """nginx reused idle connections uvicorn was closing after its 5 s keep-alive: now nginx
    gives them up first, so uvicorn closes none of them and no POST meets a closing one."""
    url = f"{api_server.through_nginx}/api/v1/events/viewing"
    headers = auth_headers(settings)
    nginx = stack.component("nginx").process.pid()
    assert nginx is not None
    closed_before = closed_by_server(settings.api_port)
    upstream_ports: set[int] = set()  # nginx's ends of its connections to the API
    statuses = []
    with httpx.Client(timeout=10.0) as client:
        # Idle gaps around uvicorn's old keep-alive, where the race was.
        for gap_s in (0.0, OLD_UVICORN_KEEPALIVE_S - 0.02, OLD_UVICORN_KEEPALIVE_S, 5.5):
            time.sleep(gap_s)
            body = {"movie_id": str(uuid.uuid4()), "watched_seconds": 5}
            statuses.append(client.post(url, json=body, headers=headers).status_code)
            upstream_ports |= _upstream_ports(nginx, settings.api_port)
    assert statuses == [202] * len(statuses)
    assert upstream_ports
    closed_by_uvicorn = closed_by_server(settings.api_port) - closed_before
    assert closed_by_uvicorn & upstream_ports == set()


def _upstream_ports(nginx_master: int, api_port: int) -> set[int]:
    return {
        s.local[1]
        for worker in descendants(nginx_master)
        for s in sockets_of(worker.pid)
        if s.remote[1] == api_port
    }


def test_the_api_listens_on_loopback_only(api_server, settings):
    assert Settings.model_fields["api_host"].default == "127.0.0.1"
    assert listening_hosts(settings.api_port) == {settings.api_host}
