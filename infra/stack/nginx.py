"""nginx from Debian's package, as the reverse proxy in front of the API."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from string import Template

import httpx

from infra.stack.base import INFRA_DIR, Component, Health, Launch, run_tool
from infra.stack.process import StackError

NGINX_PACKAGE = "nginx-light"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")
# How long nginx keeps an idle connection to the API: less than uvicorn's keep-alive
# (API_KEEPALIVE_TIMEOUT_S in ugc_cli/runner.py), so uvicorn never closes one nginx may reuse.
UPSTREAM_KEEPALIVE_TIMEOUT_S = 60


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_CANDIDATES if Path(path).is_file()), None)


def render_nginx_conf(
    *,
    listen: str,
    api_upstream: str,
    body_limit: str,
    rate_limit: str,
    rate_burst: int,
    client_timeout_s: float,
    run_dir: Path,
    log_dir: Path,
    temp_dir: Path,
    as_root: bool,
) -> str:
    template = Template((INFRA_DIR / "nginx" / "nginx.conf").read_text())
    return template.substitute(
        user_directive="user nobody nogroup;" if as_root else "",
        listen=listen,
        api_upstream=api_upstream,
        body_limit=body_limit,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        # nginx takes no fractions of a second: whole milliseconds.
        client_timeout=f"{round(client_timeout_s * 1000)}ms",
        upstream_keepalive_timeout=f"{UPSTREAM_KEEPALIVE_TIMEOUT_S}s",
        run_dir=run_dir,
        log_dir=log_dir,
        temp_dir=temp_dir,
    )


class Nginx(Component):
    name = "nginx"

    @property
    def version(self) -> str:  # type: ignore[override]
        binary = nginx_binary()
        if binary is None:
            return "not installed"
        out = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr
        match = re.search(r"nginx/([\w.]+)", out)
        return match.group(1) if match else "unknown"

    @property
    def address(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.nginx_port}"

    def listen_ports(self) -> list[tuple[str, int]]:
        return [(self.settings.api_host, self.settings.nginx_port)]

    def provision(self) -> None:
        if nginx_binary():
            return
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise StackError(f"nginx is not installed: apt-get install {NGINX_PACKAGE}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run_tool(["apt-get", "update", "-qq"], Path("/"), "apt-get update", env=env)
        run_tool(
            ["apt-get", "install", "-y", "-qq", NGINX_PACKAGE], Path("/"), "installing nginx", env
        )

    def launch(self) -> Launch:
        binary = nginx_binary()
        if binary is None:
            raise StackError("nginx is not installed")
        temp_dir = self.layout.data_dir("nginx")
        conf = self.layout.conf / "nginx.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        settings = self.settings
        conf.write_text(
            render_nginx_conf(
                listen=f"{settings.api_host}:{settings.nginx_port}",
                api_upstream=f"{settings.api_host}:{settings.api_port}",
                body_limit=settings.nginx_body_limit,
                rate_limit=settings.nginx_rate_limit,
                rate_burst=settings.nginx_rate_burst,
                client_timeout_s=settings.client_timeout_s,
                run_dir=self.layout.data_dir("nginx-run"),
                log_dir=self.layout.logs,
                temp_dir=temp_dir,
                as_root=os.geteuid() == 0,
            )
        )
        run_tool([binary, "-t", "-q", "-p", str(temp_dir), "-c", str(conf)], temp_dir, "nginx -t")
        return Launch(argv=[binary, "-p", str(temp_dir), "-c", str(conf)], cwd=temp_dir)

    def health(self) -> Health:
        try:
            response = httpx.get(f"{self.address}/nginx-health", timeout=2.0)
        except httpx.HTTPError as exc:
            return Health(False, f"{type(exc).__name__}: {exc}")
        return Health(response.status_code == 200, f"HTTP {response.status_code}")
