"""Where the mock listens: one socket per address, so ``localhost`` works whichever way it resolves.

``localhost`` resolves to ``::1`` first on many machines (and in many HTTP clients), so a mock
bound to ``127.0.0.1`` alone refuses them. By default the mock listens on both loopback
addresses; ``::1`` is left out, silently, only where the machine has no IPv6. Any other
``--host`` value is a comma-separated list of addresses, each of which must bind.

Every listening socket sets ``TCP_NODELAY``, which accepted connections inherit: without it a
keep-alive client waits on Nagle's algorithm and delayed ACKs, about 40 ms a request.

With ``--workers N`` on Linux each worker binds sockets of its own on the one port
(``SO_REUSEPORT``; see :mod:`tpns_mock.workers` for why). The supervisor first binds the port
exclusively, as one process would, so a port in use is one error naming the address and port 0
becomes one port; then it keeps those sockets bound but never listening (:func:`hold`), so the
port stays the mock's, whichever worker comes and goes, while no connection waits on them.
"""

from __future__ import annotations

import errno
import socket
import sys

LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_V6 = "::1"
DEFAULT_HOST = f"{LOOPBACK_V4},{LOOPBACK_V6}"
WILDCARDS = ("0.0.0.0", "::")
# what binding ``::1`` raises on a machine (or container) without IPv6
NO_IPV6 = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT)
# Linux spreads new connections over the listening sockets sharing a port with SO_REUSEPORT
# (by a hash of the addresses and ports); elsewhere the option, where it exists, does not
# spread them, so workers there share one set of sockets
SHARES_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def addresses(host: str) -> list[str]:
    """The addresses in a ``--host`` value (brackets around IPv6 literals allowed)."""
    found = [part.strip().removeprefix("[").removesuffix("]") for part in host.split(",")]
    found = [address for address in found if address]
    if not found:
        raise ValueError("--host / TPNS_MOCK_HOST: no address given")
    return list(dict.fromkeys(found))


def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """A listening-ready socket for each address of ``host``, all on one port (with port 0, the
    port the first one got). Raises OSError naming the address that cannot be bound, and
    ValueError for a ``host`` that names none.

    Without ``reuse_port`` the sockets are the port's only ones, inheritable, so worker
    processes can share them. With it (where :data:`SHARES_PORT`) they join the sockets other
    processes of this user hold on the port, and stay this process's own."""
    sockets: list[socket.socket] = []
    several = len(addresses(host)) > 1
    try:
        for address in addresses(host):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as exc:
                if host == DEFAULT_HOST and address == LOOPBACK_V6 and exc.errno in NO_IPV6:
                    continue
                raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                # inherited by accepted connections (see the module's docstring)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if family == socket.AF_INET6 and several:
                    # "::" beside "0.0.0.0": each family on its own socket
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address, port))
            except OSError as exc:
                sock.close()
                if host == DEFAULT_HOST and address == LOOPBACK_V6 and exc.errno in NO_IPV6:
                    continue  # no IPv6 here: 127.0.0.1 alone
                shown = f"[{address}]" if ":" in address else address
                reason = (exc.strerror or str(exc)).lower()
                raise OSError(
                    f"cannot listen on {shown}:{port}: {reason}; stop what is using it, or"
                    " choose another --port / TPNS_MOCK_PORT",
                ) from None
            if not reuse_port:
                sock.set_inheritable(True)  # worker processes may serve on it too
            sockets.append(sock)
            port = sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def hold(sockets: list[socket.socket]) -> None:
    """Turn sockets :func:`bind` gave (bound, not listening) into the port's keepers: they let
    this user's ``SO_REUSEPORT`` sockets bind beside them, and anyone else's bind still fails.
    A socket that never listens is not offered connections: with no other socket listening on
    the port, a client is refused at once."""
    for sock in sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # with SO_REUSEADDR on both, a socket that is not listening lets any other bind beside it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)


def url_host(address: str) -> str:
    """How ``address`` is written in a URL a client can use (a wildcard means loopback)."""
    if address in WILDCARDS:
        return "localhost"
    return f"[{address}]" if ":" in address else address
