"""``GET /_mock/ca.pem``: the CA a client trusts to reach the mock over HTTPS (see tls.py).

Public by nature (a certificate, never a key), and served without auth like the rest of
``/_mock/``, so a container or a test can fetch it from the mock it is about to trust.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/_mock", tags=["mock inspection"])

PEM_TYPE = "application/x-pem-file"


@router.get(
    "/ca.pem",
    summary="The CA certificate to trust for HTTPS (with --tls)",
    responses={
        200: {"content": {PEM_TYPE: {"example": "-----BEGIN CERTIFICATE-----\n..."}}},
        404: {"description": "TLS is off"},
    },
)
def ca_certificate(request: Request) -> Response:
    ca_file: Path | None = request.app.state.ca_file
    if ca_file is None:
        return JSONResponse(
            {
                "error": "not_found",
                "message": "TLS is off: start the mock with --tls (TPNS_MOCK_TLS=1) for a CA",
            },
            status_code=404,
        )
    try:
        pem = ca_file.read_bytes()
    except OSError:
        return JSONResponse(
            {
                "error": "not_found",
                "message": f"the CA file {str(ca_file)!r} is gone: restart the mock to make one",
            },
            status_code=404,
        )
    return Response(
        pem,
        media_type=PEM_TYPE,
        headers={"Content-Disposition": 'attachment; filename="tpns-mock-ca.pem"'},
    )
