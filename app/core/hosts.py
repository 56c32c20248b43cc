"""Whether a host is this machine: one answer for the egress guard, policy and downloads."""

from __future__ import annotations

import ipaddress

# The names Debian's /etc/hosts gives loopback. Any other name (``localhost.example``,
# ``127.0.0.1.nip.io``) resolves wherever its owner likes.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, ``[v6]`` or ``v6%zone``) is this machine.

    Loopback addresses are 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x.
    """
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
