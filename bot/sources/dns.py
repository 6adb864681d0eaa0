"""Name resolution through the system resolver, with a timeout.

`getaddrinfo` has no timeout of its own (glibc retries for up to ~10 s per server), so each
lookup runs in a small worker pool and is abandoned after `timeout_s`.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from bot.errors import NotFound, SourceError, Timeout, Unavailable

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")


@dataclass(frozen=True, slots=True)
class ServiceDns:
    """A Service's cluster DNS name, checked against a control name that always exists."""

    name: str
    addresses: list[str]
    error: str
    control: str
    control_ok: bool


_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class Resolver:
    name = "dns"

    def __init__(self, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s

    def resolve(self, host: str) -> list[str]:
        """The addresses of `host`, sorted; SourceError when it does not resolve in time."""
        future = _POOL.submit(socket.getaddrinfo, host, None, proto=socket.IPPROTO_TCP)
        try:
            infos = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise Timeout(self.name, f"{host}: no answer within {self.timeout_s:g} s") from None
        except socket.gaierror as exc:
            # No such name is an answer; anything else (no server, temporary) is not.
            kind = NotFound if exc.errno in _NO_SUCH_NAME else Unavailable
            raise kind(self.name, f"{host}: {exc.strerror or exc}") from None
        except OSError as exc:
            raise Unavailable(self.name, f"{host}: {exc}") from None
        return sorted({str(info[4][0]) for info in infos})

    def service(self, service: str, namespace: str, cluster_domain: str) -> ServiceDns:
        """Resolve `<svc>.<ns>.svc.<domain>`; on failure also `kubernetes.default.svc.<domain>`
        so that "the service has no DNS record" and "cluster DNS is not reachable from here"
        (the bot runs outside the cluster) are told apart."""
        name = f"{service}.{namespace}.svc.{cluster_domain}"
        control = f"kubernetes.default.svc.{cluster_domain}"
        try:
            return ServiceDns(name, self.resolve(name), "", control, True)
        except SourceError as exc:
            error = exc.reason
        try:
            self.resolve(control)
            control_ok = True
        except SourceError:
            control_ok = False
        return ServiceDns(name, [], error, control, control_ok)
