"""nginx in front of the API: its own health, the body limit, and JSON errors."""

import json

import httpx
import pytest

from tests.net_support import raw_request


def test_nginx_answers_its_health_check(stack, settings):
    response = httpx.get(f"http://{settings.api_host}:{settings.nginx_port}/nginx-health")
    assert response.status_code == 200


def test_body_over_the_limit_is_refused_with_413(stack, settings):
    body = b"x" * (2 * 1024 * 1024)  # the default limit is 1m
    response = httpx.post(
        f"http://{settings.api_host}:{settings.nginx_port}/api/v1/events", content=body
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


HOST = b"Host: 127.0.0.1\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"GET /api/v1/\x00health HTTP/1.1\r\n" + HOST + b"\r\n", 400, id="nul-in-path"
        ),
        pytest.param(b"GET /api/v1/\xff\x01 HTTP/1.1\r\n" + HOST + b"\r\n", 400, id="bad-bytes"),
        pytest.param(b"G@T / HTTP/1.1\r\n" + HOST + b"\r\n", 400, id="bad-method"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="no-host"),
        pytest.param(
            b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414, id="long-uri"
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + HOST + b"Cookie: " + b"c" * 20_000 + b"\r\n\r\n",
            431,
            id="oversized-header",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n", 501, id="bad-te"
        ),
        pytest.param(b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 505, id="bad-version"),
        pytest.param(b"TRACE / HTTP/1.1\r\n" + HOST + b"\r\n", 405, id="trace"),
        pytest.param(b"GET /_ugc_error HTTP/1.1\r\n" + HOST + b"\r\n", 404, id="internal-page"),
    ],
)
def test_errors_nginx_answers_itself_are_json(stack, settings, request_bytes, status):
    response = raw_request(settings.api_host, settings.nginx_port, request_bytes, 10.0)
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json", response
    assert json.loads(response.body)["detail"], response
