"""The analysts' dashboard: a static page on the raw-events worker's port, charts drawn in the
browser from the analytics views of `streams.raw.web`.

The page and its scripts hold no data, so they are served to anyone; every chart's data comes
from the analytics views, which want an analyst's bearer token. The page takes it from the URL
fragment (`#token=...`, which browsers never send, so it reaches no server log), keeps it in
the tab's sessionStorage and drops it from the address bar; or the analyst pastes one.
Plotly's JavaScript comes from the `plotly` wheel, so the page works offline.
"""

from functools import cache
from importlib.resources import files
from pathlib import Path

from faust.web import Request, Response, View

from streams.raw_app import app

HERE = Path(__file__).parent
PLOTLY = "plotly.min.js"
CONTENT_TYPES = {
    "index.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    PLOTLY: "text/javascript",
}
# Nothing but this origin: no script, style or connection elsewhere, no framing. Plotly sets
# inline styles on the elements it draws, hence 'unsafe-inline' for styles (not for scripts).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidate: a new release is seen at once
}


@cache
def _asset(name: str) -> bytes:
    if name == PLOTLY:
        return (files("plotly") / "package_data" / PLOTLY).read_bytes()
    return (HERE / name).read_bytes()


def _serve(view: View, name: str) -> Response:
    if name not in CONTENT_TYPES:
        return view.json({"detail": f"no such file: {name}"}, status=404)
    return view.bytes(_asset(name), content_type=CONTENT_TYPES[name], headers=dict(HEADERS))


@app.page("/dashboard")
async def dashboard(self: View, request: Request) -> Response:
    return _serve(self, "index.html")


@app.page("/dashboard/{name}")
async def dashboard_file(self: View, request: Request, name: str) -> Response:
    return _serve(self, name)
