"""nginx in front of the API: its own health, the body limit, and JSON errors."""

import httpx


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
