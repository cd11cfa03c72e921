"""Raw HTTP over sockets and the kernel's view of TCP sockets (/proc/net/tcp), for edge tests
that must send what no HTTP client sends (a NUL in the path, a stalled body) or see who
closed a connection."""

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"
TIME_WAIT = "06"


@dataclass(frozen=True)
class RawResponse:
    status: int | None  # None: the connection closed without an answer
    headers: dict[str, str]
    body: bytes
    elapsed_s: float


def raw_request(host: str, port: int, data: bytes, timeout_s: float) -> RawResponse:
    """Send `data` and nothing more, then read until one whole response arrived or the server
    closed; TimeoutError if neither happened within `timeout_s`."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        started = time.monotonic()
        sock.sendall(data)
        received = b""
        while (response := _complete(received)) is None:
            remaining = timeout_s - (time.monotonic() - started)
            if remaining <= 0:
                raise TimeoutError(f"neither an answer nor a close within {timeout_s}s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:  # closed: whatever arrived is the answer
                response = _parse(received)
                break
            received += chunk
        return RawResponse(*response, elapsed_s=time.monotonic() - started)


def _complete(received: bytes) -> tuple[int | None, dict[str, str], bytes] | None:
    """The response once its headers and Content-Length bytes of body arrived."""
    _, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return None
    status, headers, _ = _parse(received)
    if len(body) < int(headers.get("content-length", "0")):
        return None
    return status, headers, body


def _parse(received: bytes) -> tuple[int | None, dict[str, str], bytes]:
    if not received:
        return None, {}, b""
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@dataclass(frozen=True)
class TcpSocket:
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    inode: int


def tcp_sockets() -> list[TcpSocket]:
    """Every TCP socket of this network namespace, IPv4 and IPv6."""
    sockets = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            sockets.append(TcpSocket(_address(local), _address(remote), state, int(inode)))
    return sockets


def listening_hosts(port: int) -> set[str]:
    """The addresses something listens on at `port` (e.g. {"127.0.0.1"} or {"0.0.0.0"})."""
    return {s.local[0] for s in tcp_sockets() if s.state == LISTEN and s.local[1] == port}


def sockets_of(pid: int) -> list[TcpSocket]:
    """The TCP sockets process `pid` holds (matched by the inodes of its descriptors)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return [s for s in tcp_sockets() if s.inode in inodes]


def listening_sockets_of(pid: int) -> list[TcpSocket]:
    return [s for s in sockets_of(pid) if s.state == LISTEN]


def closed_by_server(port: int) -> set[int]:
    """Client ports of the connections the server on `port` closed first (the side that closes
    first keeps the TIME_WAIT entry: here, the one whose local end is the server's port)."""
    return {s.remote[1] for s in tcp_sockets() if s.state == TIME_WAIT and s.local[1] == port}


def _address(field: str) -> tuple[str, int]:
    host_hex, port_hex = field.split(":")
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        host = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # four little-endian 32-bit words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        host = socket.inet_ntop(socket.AF_INET6, words)
        if host.startswith("::ffff:") and "." in host:
            host = host.removeprefix("::ffff:")
    return host, int(port_hex, 16)
