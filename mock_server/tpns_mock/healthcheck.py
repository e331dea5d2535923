"""``python -m tpns_mock.healthcheck``: the container's HEALTHCHECK, in the standard library.

Slim images have no curl, and a probe must follow the port the mock was told to use
(``TPNS_MOCK_PORT``), so it reads the same variables the server does. Exit 0 only when
``/_mock/health`` answers 200, i.e. when the server can actually serve requests.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def health_url(env: Mapping[str, str]) -> str:
    """The URL of the health endpoint of a mock configured by ``env``."""
    host = env.get("TPNS_MOCK_HOST", "127.0.0.1")
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"  # bound to every address: loopback is one of them
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # a literal IPv6 address
    port = env.get("TPNS_MOCK_PORT", "8080")
    return f"http://{host}:{port}/_mock/health"


def probe(url: str, timeout_s: float = 3.0) -> str | None:
    """``None`` if healthy, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            if response.status == 200:
                return None
            return f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return str(exc)


def main() -> int:
    url = health_url(os.environ)
    problem = probe(url)
    if problem is None:
        return 0
    print(f"tpns-mock unhealthy: {url}: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
