"""HTML routes of the web UI and the mount of its static files.

Kept apart from the JSON API so the API factory decides whether to serve pages at all: it
includes `router` and calls `mount_static(app)`. The map page is a shell rendered by Jinja2;
its script (`static/js/map.js`) fetches the agreement and the observations from the same-origin
API. The page's Content-Security-Policy allows nothing but this origin, so a stray CDN link or
tile layer fails loudly in the browser (and in the browser tests) instead of leaking requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from garant import __version__

WEB_DIR: Final = Path(__file__).resolve().parent
STATIC_DIR: Final = WEB_DIR / "static"
TEMPLATES_DIR: Final = WEB_DIR / "templates"

#: Same origin only; `data:` images for Leaflet's internals. No inline script or style.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

templates: Final = Jinja2Templates(directory=str(TEMPLATES_DIR))

router: Final = APIRouter()


def _page_context(request: Request) -> dict[str, str]:
    """URL prefixes the templates and scripts need, honouring a reverse proxy's root path."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return {
        "static_url": f"{root}/static",
        "api_base": f"{root}/api/v1",
        "version": __version__,
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def map_page(request: Request) -> HTMLResponse:
    """The map of the agreement (contact line, control areas, zones) and the observations."""
    response = templates.TemplateResponse(request, "map.html", _page_context(request))
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


def mount_static(app: FastAPI) -> None:
    """Serve `garant/web/static` at `/static` (named `static` for `url_for`)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
