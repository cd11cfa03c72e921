"""The public development JWT secret is refused outside development (item: anyone could mint
tokens with it): by the API at startup, and by `ugc token`."""

import os
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from ingest_api.auth import TokenVerifier, mint_token
from ingest_api.main import create_app
from ugc.settings import DEVELOPMENT_JWT_SECRET, PROJECT_ROOT, InsecureSettingsError, Settings
from ugc_cli.runner import service_commands

OWN_SECRET = "a-secret-of-the-auth-service-0123456789"


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg,arg-type]


def _clean_env(**values: str) -> dict[str, str]:
    """This environment without any UGC_* variable or env file, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UGC_")}
    return {**env, "UGC_ENV_FILE": os.devnull, **values}


def test_production_is_the_default_environment():
    assert _settings().environment == "production"


@pytest.mark.parametrize("secret", [DEVELOPMENT_JWT_SECRET, ""])
def test_production_refuses_a_public_or_empty_secret(secret):
    settings = _settings(environment="production", jwt_secret=secret)
    with pytest.raises(InsecureSettingsError, match="UGC_JWT_SECRET"):
        TokenVerifier(settings)
    with pytest.raises(InsecureSettingsError, match="UGC_JWT_SECRET"):
        create_app(settings)


def test_production_starts_with_its_own_secret_and_development_with_the_public_one():
    create_app(_settings(environment="production", jwt_secret=OWN_SECRET))
    create_app(_settings(environment="development"))


def test_rs256_with_a_public_key_needs_no_secret(tmp_path: Path):
    key = tmp_path / "auth.pub.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n")
    TokenVerifier(
        _settings(environment="production", jwt_algorithm="RS256", jwt_public_key_file=key)
    )


def test_tokens_are_minted_in_development_only():
    user = uuid.uuid4()
    assert mint_token(_settings(environment="development"), user, timedelta(minutes=1))
    with pytest.raises(InsecureSettingsError, match="development"):
        mint_token(
            _settings(environment="production", jwt_secret=OWN_SECRET), user, timedelta(minutes=1)
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # runs processes of its own
def test_uvicorn_refuses_to_start_the_api_with_the_public_secret_in_production():
    port = _free_port()
    command = service_commands(_settings(api_port=port))["api"]
    env = _clean_env(UGC_ENVIRONMENT="production", UGC_API_PORT=str(port))
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    refusals = [line for line in done.stderr.splitlines() if "UGC_JWT_SECRET" in line]
    assert len(refusals) == 1, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # runs processes of its own
def test_ugc_token_refuses_outside_development():
    command = [f"{sys.prefix}/bin/ugc", "token", "--user", str(uuid.uuid4())]
    production = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=_clean_env(UGC_ENVIRONMENT="production", UGC_JWT_SECRET=OWN_SECRET),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert production.returncode == 1
    assert "UGC_ENVIRONMENT=development" in production.stderr
    development = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=_clean_env(UGC_ENVIRONMENT="development"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert development.returncode == 0, development.stderr
    assert development.stdout.count(".") == 2  # header.claims.signature
