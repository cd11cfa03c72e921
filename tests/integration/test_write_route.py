"""The write routes are handled without FastAPI's generic request handler (WriteRoute): the
outcomes, and their order, stay FastAPI's (compared against it when the route was written)."""

import pytest

from tests.api_support import api_client, auth_headers

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
async def api(stack, settings):
    async with api_client(settings) as client:
        yield client


def _auth(settings) -> dict[str, str]:
    return {**JSON, **auth_headers(settings)}


# (case, body, headers of the settings -> (status, detail))
CASES = [
    ("no body", b"", _auth, 422, "body: Field required"),
    ("not JSON typed", b'{"movie_id": "x"}', lambda s: auth_headers(s),
     422, "body: Input should be a valid dictionary or object to extract fields from"),
    ("JSON cut short", b'{"movie_id": ', _auth, 422, "body.13: JSON decode error"),
    ("invalid UTF-8", b'{"movie_id": "\xff"}', _auth, 400, "There was an error parsing the body"),
    # The token is checked after the JSON is read, before the body is validated.
    ("no token, bad JSON", b"{", lambda s: JSON, 422, "body.1: JSON decode error"),
    ("no token, bad body", b'{"movie_id": 1}', lambda s: JSON, 401, "missing bearer token"),
    ("not bearer", b"{}", lambda s: {**JSON, "Authorization": "Basic abc"},
     401, "missing bearer token"),
]  # fmt: skip


@pytest.mark.parametrize("path", ["viewing", "batch"])
@pytest.mark.parametrize(("case", "body", "headers_of", "status", "detail"), CASES)
async def test_outcomes_are_fastapis(api, settings, path, case, body, headers_of, status, detail):
    response = await api.post(f"/api/v1/events/{path}", content=body, headers=headers_of(settings))
    assert response.status_code == status, response.text
    assert response.json()["detail"] == detail
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
