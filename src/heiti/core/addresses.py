"""Network addresses as heiti's listeners judge them: a listener reachable only from this
machine may go without a token; any other needs one."""

from __future__ import annotations


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address (a name that does not
    resolve is not: it may mean anything once it does)."""
    import ipaddress
    import socket

    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)
