"""The SSRF guard: which addresses a capture may connect to.

Perma's legacy engine resolved a host, checked the answer, then let the proxy
resolve it again to connect: a DNS-rebinding server can answer differently the
second time. Here the proxy resolves once, checks every answer, and connects to
that exact address (``connect_checked``), so the address checked is the address
connected to, for the first page, every redirect hop and every sub-resource.
The banned list is Scoop's default (capture.md section 1.10), private ranges
included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BANNED_RANGES: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/29", "192.0.2.0/24", "192.88.99.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/128", "::1/128", "::ffff:0:0/96", "100::/64", "64:ff9b::/96", "2001::/32",
        "2001:10::/28", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
    )
)
LOOPBACK_RANGES: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
ALLOWED_SCHEMES = frozenset({"http", "https"})


class Blocked(Exception):
    """A connection the guard refused; ``rule`` names the range or reason."""

    def __init__(self, target: str, rule: str) -> None:
        super().__init__(f"request for {target} matched blocklist rule {rule} and was blocked")
        self.target = target
        self.rule = rule


@dataclass(frozen=True)
class Guard:
    """The address policy of one capture."""

    allow_loopback: bool = False

    def banned_rule(self, address: str) -> str | None:
        """The banned range ``address`` falls in, or None when it may be connected to.

        IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``) are judged as the IPv4
        address they carry, so the mapping cannot smuggle a private address.
        """
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.allow_loopback and any(ip in net for net in LOOPBACK_RANGES):
            return None
        for net in BANNED_RANGES:
            if ip.version == net.version and ip in net:
                return str(net)
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
            rule = self.banned_rule(address)
            if rule is not None:
                raise Blocked(f"{host}:{port} ({address})", rule)
        return addresses[0]


def check_scheme(scheme: str, url: str) -> None:
    """Refuse anything but http and https before a browser sees the URL."""
    if scheme.lower() not in ALLOWED_SCHEMES:
        raise Blocked(url, f"scheme {scheme or '(none)'} not allowed")
