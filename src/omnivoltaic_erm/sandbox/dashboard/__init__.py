"""The sandbox dashboard: a page at ``/dashboard`` and its JSON admin API at ``/admin``.

Both require the admin token printed at start-up, as ``?token=...``, an
``Authorization: Bearer`` header or an ``X-ERM-Admin-Token`` header; the page sets a
cookie on the first visit with the token, so its own calls need nothing more. A request
without the token gets 401 and changes nothing. The page is plain HTML with a little
JavaScript, served from the package (``templates/``, ``static/``).
"""

from __future__ import annotations

import hmac
import secrets
from importlib import resources

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from ..auth import bearer_token
from ..config import SandboxConfig
from ..requestlog import REQUEST_LOG, RequestLog, request_log_middleware
from .admin import add_routes

COOKIE = "erm_admin"
_HEADER = "X-ERM-Admin-Token"
_PROTECTED = ("/admin", "/dashboard")
ADMIN_TOKEN = web.AppKey("erm_sandbox_admin_token", str)

__all__ = ["ADMIN_TOKEN", "COOKIE", "new_admin_token", "setup_dashboard", "token_of"]


def new_admin_token() -> str:
    """A fresh random admin token."""
    return secrets.token_hex(24)


def token_of(request: web.Request) -> str | None:
    """The admin token a request offers: query, bearer header, own header or cookie."""
    return (
        request.query.get("token")
        or bearer_token(request.headers.get("Authorization"))
        or request.headers.get(_HEADER)
        or request.cookies.get(COOKIE)
    )


def _protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in _PROTECTED)


@web.middleware
async def admin_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 for ``/admin`` and ``/dashboard`` without the admin token."""
    if not _protected(request.path):
        return await handler(request)
    offered = token_of(request)
    expected = request.app[ADMIN_TOKEN]
    if offered is None or not hmac.compare_digest(offered.encode(), expected.encode()):
        return web.json_response(
            {"error": "the admin token is required (printed when the sandbox starts)"},
            status=401,
        )
    response = await handler(request)
    if request.query.get("token") and request.path.startswith("/dashboard"):
        response.set_cookie(COOKIE, expected, httponly=True, samesite="Strict", path="/")
    return response


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader(__name__, "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


async def page(request: web.Request) -> web.Response:
    """``GET /dashboard``: the page."""
    template = _ENV.get_template("dashboard.html")
    size = request.app[REQUEST_LOG].entries.maxlen
    return web.Response(text=template.render(log_size=size), content_type="text/html")


async def static(request: web.Request) -> web.Response:
    """``GET /dashboard/static/{name}``: the page's script and style."""
    name = request.match_info["name"]
    files = resources.files(__name__).joinpath("static")
    if name not in ("dashboard.js", "dashboard.css"):
        raise web.HTTPNotFound()
    kind = "application/javascript" if name.endswith(".js") else "text/css"
    text = files.joinpath(name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=kind)


def setup_dashboard(app: web.Application, config: SandboxConfig) -> str:
    """Add the request log, the admin API and the page to ``app``; return the token.

    The request log's middleware goes first, so it sees what the fault injector did.
    """
    token = config.admin_token or new_admin_token()
    app[ADMIN_TOKEN] = token
    app[REQUEST_LOG] = RequestLog(config.request_log_size)
    app.middlewares.insert(0, request_log_middleware)
    app.middlewares.insert(0, admin_auth_middleware)
    add_routes(app)
    app.router.add_get("/dashboard", page)
    app.router.add_get("/dashboard/static/{name}", static)
    return token
