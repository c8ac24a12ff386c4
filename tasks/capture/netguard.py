"""The SSRF guard: which addresses a capture may connect to.

Perma's legacy engine resolved a host, checked the answer, then let the proxy
resolve it again to connect: a DNS-rebinding server can answer differently the
second time. Here the proxy resolves once, checks every answer, and connects to
that exact address (``connect_checked``), so the address checked is the address
connected to, for the first page, every redirect hop and every sub-resource.
The banned list is Scoop's default (capture.md section 1.10), private ranges
included, plus the deprecated and translated IPv6 spellings of IPv4 addresses
(IPv4-compatible ``::a.b.c.d``, IPv4-translated, site-local ``fec0::/10``,
local-use NAT64) and anything else Python's ``ipaddress`` does not call global.

Loopback, opened for our own tests by ``allow_loopback``, still refuses the
ports of Custos' own services (``service_ports``): the API, the Prefect server
and the database must never be reachable from a captured page.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from custos.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BANNED_RANGES: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/29",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::/96",
        "::ffff:0:0/96",
        "::ffff:0:0:0/96",
        "100::/64",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2001::/32",
        "2001:2::/48",
        "2001:10::/28",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
LOOPBACK_RANGES: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: IPv6 ranges whose low 32 bits are an IPv4 address, named for the refusal message.
_IPV4_IN_LOW_BITS = {
    ipaddress.ip_network("::/96"): "IPv4-compatible",
    ipaddress.ip_network("::ffff:0:0:0/96"): "IPv4-translated",
    ipaddress.ip_network("64:ff9b::/96"): "NAT64",
}
NOT_GLOBAL_RULE = "not globally reachable"
_SPECIAL = (ipaddress.ip_address("::"), ipaddress.ip_address("::1"))


class Blocked(Exception):
    """A connection the guard refused; ``rule`` names the range or reason."""

    def __init__(self, target: str, rule: str) -> None:
        super().__init__(f"request for {target} matched blocklist rule {rule} and was blocked")
        self.target = target
        self.rule = rule


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 spelling carries, with the name of that spelling."""
    for net, name in _IPV4_IN_LOW_BITS.items():
        if ip in net:
            return name, ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    return None


def _describe(net: IPNetwork, ip: IPAddress) -> str:
    """The rule text: the range, and the IPv4 address a translated spelling carries."""
    if isinstance(ip, ipaddress.IPv6Address) and net.prefixlen > 0 and ip not in _SPECIAL:
        carried = embedded_ipv4(ip)
        if carried is not None:
            return f"{net} ({carried[0]} {carried[1]})"
    return str(net)


@dataclass(frozen=True)
class Guard:
    """The address policy of one capture.

    ``protected_ports`` pairs each port of Custos' own services with its name;
    those ports are refused on loopback and on ``service_hosts`` even when
    ``allow_loopback`` opens loopback for the tests' own sites.
    """

    allow_loopback: bool = False
    protected_ports: tuple[tuple[int, str], ...] = ()
    service_hosts: tuple[str, ...] = ()

    def with_protected(self, port: int, name: str) -> Guard:
        """This guard, also refusing ``port`` (e.g. the capture proxy's own)."""
        return Guard(self.allow_loopback, (*self.protected_ports, (port, name)), self.service_hosts)

    def banned_rule(self, address: str, port: int | None = None) -> str | None:
        """The banned range ``address`` falls in, or None when it may be connected to.

        IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``) are judged as the IPv4
        address they carry, so the mapping cannot smuggle a private address. The
        other IPv6 spellings of IPv4 (compatible, translated, NAT64, 6to4,
        Teredo) are refused outright, their rule naming the address they carry.
        ``port`` is checked against the protected service ports.
        """
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        loopback = any(ip.version == net.version and ip in net for net in LOOPBACK_RANGES)
        if not (self.allow_loopback and loopback):
            for net in BANNED_RANGES:
                if ip.version == net.version and ip in net:
                    return _describe(net, ip)
            if not ip.is_global:
                return NOT_GLOBAL_RULE
        if port is not None and (loopback or str(ip) in self.service_hosts):
            for protected, name in self.protected_ports:
                if port == protected:
                    return f"port {port} of Custos' own {name}"
        return None

    async def resolve(self, host: str, port: int) -> str:
        """Resolve ``host`` once and return the address to connect to.

        Every answer must pass: a name that resolves to one public and one
        private address is refused rather than raced.
        """
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Blocked(f"{host}:{port}", f"unresolvable host ({exc})") from exc
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise Blocked(f"{host}:{port}", "unresolvable host")
        for address in addresses:
            rule = self.banned_rule(address, port)
            if rule is not None:
                raise Blocked(f"{host}:{port} ({address})", rule)
        return addresses[0]


def check_scheme(scheme: str, url: str) -> None:
    """Refuse anything but http and https before a browser sees the URL."""
    if scheme.lower() not in ALLOWED_SCHEMES:
        raise Blocked(url, f"scheme {scheme or '(none)'} not allowed")


def _url_port(url: str | None, default: int | None = None) -> int | None:
    if not url:
        return None
    try:
        return urlsplit(url).port or default
    except ValueError:
        return None


def _prefect_api_urls(environ: Mapping[str, str]) -> list[str]:
    """PREFECT_API_URL from the environment and as this process' Prefect sees it."""
    urls = [environ.get("PREFECT_API_URL", "")]
    if "prefect.settings" in sys.modules:  # profiles, temporary settings
        try:
            urls.append(str(sys.modules["prefect.settings"].PREFECT_API_URL.value() or ""))
        except Exception:  # the environment's value is enough
            pass
    return [url for url in urls if url]


def service_ports(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[tuple[int, str], ...]:
    """The ports of Custos' own services on this machine, named.

    The API (``CUSTOS_PORT``, passed by ``custos serve`` to every child), the
    Prefect server (``CUSTOS_PREFECT_PORT`` and the port of ``PREFECT_API_URL``),
    Prefect's runner webserver when enabled, and the database.
    """
    environ = os.environ if environ is None else environ
    found: dict[int, str] = {settings.port: "API", settings.prefect_port: "Prefect server"}
    for url in _prefect_api_urls(environ):
        api_port = _url_port(url, 443 if url.startswith("https") else 80)
        if api_port is not None:
            found.setdefault(api_port, "Prefect server")
    server_port = environ.get("PREFECT_SERVER_API_PORT", "")
    if server_port.isdigit():
        found.setdefault(int(server_port), "Prefect server")
    if environ.get("PREFECT_RUNNER_SERVER_ENABLE", "").lower() in ("1", "true", "yes"):
        runner_port = environ.get("PREFECT_RUNNER_SERVER_PORT", "8080")
        if runner_port.isdigit():
            found.setdefault(int(runner_port), "Prefect runner")
    if settings.database_url and settings.database_url.startswith("postgresql"):
        db_port = _url_port(settings.database_url, 5432)
        if db_port is not None:
            found.setdefault(db_port, "database")
    return tuple(sorted(found.items()))


def service_hosts(settings: Settings) -> tuple[str, ...]:
    """The addresses Custos' services bind to, when they name one address."""
    hosts = []
    for host in (settings.host, settings.prefect_host):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            continue
        if not ip.is_unspecified:
            hosts.append(str(ip))
    return tuple(hosts)
