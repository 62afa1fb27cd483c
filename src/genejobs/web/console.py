"""``GET /console``: the web console a lab works in, served from files in the package.

The console is static (``web/static/``: HTML, CSS and plain JavaScript; no CDN,
no build step) and a client of the public REST API only: it keeps the token in
the browser's localStorage and calls the same ``/v2.0/{project}/gene/``
endpoints as any client, so it can never do what the API would refuse.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

router = APIRouter()

# only these files are served: nothing else in the package is reachable
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "samples.js": "text/javascript; charset=utf-8",  # step 2: pairing and sample sheets
}


def _read(name: str) -> bytes:
    return resources.files("genejobs.web").joinpath("static", name).read_bytes()


@router.get("/console", include_in_schema=False)
def console() -> Response:
    return Response(
        _read("index.html"),
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/console/static/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(status_code=404)
    return Response(_read(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
