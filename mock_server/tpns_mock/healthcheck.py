"""``python -m tpns_mock.healthcheck``: the container's HEALTHCHECK, in the standard library.

Slim images have no curl, and a probe must follow the port the mock was told to use
(``TPNS_MOCK_PORT``), so it reads the same variables the server does. Exit 0 only when
``/_mock/health`` answers 200, i.e. when the server can actually serve requests.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def tls_on(env: Mapping[str, str]) -> bool:
    return env.get("TPNS_MOCK_TLS", "").strip().lower() in ("1", "true", "yes", "on")


def health_url(env: Mapping[str, str]) -> str:
    """The URL of the health endpoint of a mock configured by ``env``."""
    # the first of the addresses it listens on (by default 127.0.0.1, then ::1)
    host = env.get("TPNS_MOCK_HOST", "127.0.0.1").split(",")[0].strip()
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"  # bound to every address: loopback is one of them
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # a literal IPv6 address
    port = env.get("TPNS_MOCK_PORT", "8080")
    scheme = "https" if tls_on(env) else "http"
    return f"{scheme}://{host}:{port}/_mock/health"


def ca_file(env: Mapping[str, str]) -> str:
    """Where a mock configured by ``env`` keeps the CA its certificate is signed by."""
    if env.get("TPNS_MOCK_TLS_DIR"):
        return os.path.join(env["TPNS_MOCK_TLS_DIR"], "ca.pem")
    return os.path.join(env.get("TPNS_MOCK_DATA_DIR", "./tpns-mock-data"), "tls", "ca.pem")


def probe(url: str, timeout_s: float = 3.0, cafile: str | None = None) -> str | None:
    """``None`` if healthy, else why not. Over HTTPS the certificate is checked against
    ``cafile``: a healthy mock serves the certificate its own CA signed."""
    try:
        context = ssl.create_default_context(cafile=cafile) if cafile else None
        with urllib.request.urlopen(url, timeout=timeout_s, context=context) as response:
            if response.status == 200:
                return None
            return f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:  # ssl.SSLError is an OSError
        return str(exc)


def main() -> int:
    url = health_url(os.environ)
    problem = probe(url, cafile=ca_file(os.environ) if tls_on(os.environ) else None)
    if problem is None:
        return 0
    print(f"tpns-mock unhealthy: {url}: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
