"""What the edge's configuration must keep true, checked without running it."""

import re
from pathlib import Path

import pytest

from infra.stack.nginx import render_nginx_conf
from ingest_api.limits import parse_nginx_size
from ugc.settings import Settings
from ugc_cli.runner import service_commands


def _conf(client_timeout_s: float = 10.0) -> str:
    return render_nginx_conf(
        listen="127.0.0.1:8000",
        api_upstream="127.0.0.1:8001",
        body_limit="1m",
        rate_limit="10r/s",
        rate_burst=10,
        client_timeout_s=client_timeout_s,
        run_dir=Path("/run"),
        log_dir=Path("/log"),
        temp_dir=Path("/tmp"),
        as_root=False,
    )


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_nginx_gives_up_idle_upstream_connections_before_uvicorn_does():
    upstream = re.search(r"upstream ugc_api \{(.*?)\}", _conf(), re.S)
    assert upstream is not None
    nginx_s = re.search(r"keepalive_timeout (\d+)s;", upstream.group(1))
    assert nginx_s is not None
    api = service_commands(Settings(_env_file=None))["api"]
    # Margin for the two timers starting a little apart (response sent, response read).
    assert int(nginx_s.group(1)) + 5 <= int(_option(api, "--timeout-keep-alive"))


def test_client_timeouts_come_from_the_setting():
    conf = _conf(client_timeout_s=2.5)
    assert "client_header_timeout 2500ms;" in conf
    assert "client_body_timeout 2500ms;" in conf


def test_every_error_nginx_answers_has_a_json_detail():
    conf = _conf()
    detailed = set(re.findall(r"^\s+(\d{3}) \"", conf, re.M))
    pages = re.findall(r"error_page ([\d =]+) /_ugc_error;", conf)
    assert pages
    for codes in pages:
        # `502 504 =503`: the status after `=` is the one answered, with its detail.
        overwrite = [code[1:] for code in codes.split() if code.startswith("=")]
        assert set(overwrite or codes.split()) <= detailed, codes


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1m", 1024**2), ("512k", 512 * 1024), ("2G", 2 * 1024**3), ("1000", 1000), ("0", 0)],
)
def test_nginx_sizes_are_parsed_as_nginx_does(size, expected):
    assert parse_nginx_size(size) == expected


def test_a_size_nginx_would_refuse_is_refused():
    with pytest.raises(ValueError, match="nginx size"):
        parse_nginx_size("1.5m")
