"""The pages a browser gets: the drawing page, the runs page, their static files, and the API page (/docs).

Everything is served from installed packages, nothing from a CDN: our own files from digitlab/serve/static, and
Swagger UI's from the `swagger-ui-bundle-v2` package, so the API page works with no network.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

STATIC = {"app.js": "text/javascript", "runs.js": "text/javascript", "style.css": "text/css"}
SWAGGER = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}
CACHE = {"cache-control": "public, max-age=3600"}


def _static(name: str) -> str:
    return resources.files("digitlab.serve").joinpath("static", name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=len(SWAGGER))
def _swagger_asset(name: str) -> bytes:
    try:
        import swagger_ui_bundle
    except ImportError:
        raise HTTPException(status_code=503, detail="the API page needs the swagger-ui-bundle-v2 package: "
                                                    "pip install swagger-ui-bundle-v2") from None
    return (swagger_ui_bundle.swagger_ui_path / name).read_bytes()


def add_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return _static("index.html")

    @app.get("/collect", response_class=HTMLResponse, include_in_schema=False)
    def collect_page() -> str:
        return _static("index.html")  # the drawing page; app.js shows its Collect card here

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page() -> str:
        return _static("runs.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(status_code=404, detail="not found")
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    @app.get("/static/swagger/{name}", include_in_schema=False)
    def swagger_asset(name: str) -> Response:
        if name not in SWAGGER:
            raise HTTPException(status_code=404, detail="not found")
        return Response(_swagger_asset(name), media_type=SWAGGER[name], headers=CACHE)
