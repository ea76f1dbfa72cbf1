"""Who may use the page: the browser `facepace app` opened, on this computer, and no one else.

A page on localhost that can change a device is a target for every other web page the person
has open (a form posted across origins, DNS rebinding of an attacker's name to 127.0.0.1) and
for other users of the same computer. So, as Jupyter does:
- a random token per launch, in the URL the browser is opened with, then in a cookie scoped to
  this port; without it every request is refused;
- the Host header must be a loopback name with our port (a rebound name is not);
- a request that changes anything must come from our own origin and carry the CSRF token the
  page was rendered with (a header a cross-origin form cannot set);
- no CORS headers are ever sent, so other origins cannot read our answers.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

LOOPBACK_NAMES = ("127.0.0.1", "[::1]", "localhost")
SAFE_METHODS = ("GET", "HEAD")
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Secrets:
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def cookie(self) -> str:
        # Cookies are not kept apart by port: two pages on two ports must not share one.
        return f"facepace-{self.port}"

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(f"{name}:{self.port}" for name in LOOPBACK_NAMES)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}?{urlencode({'token': self.token})}"


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """ASGI middleware in front of every route, static files included."""

    def __init__(self, app, *, keys: Secrets) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await PlainTextResponse("not served here", 403)(scope, receive, send)
            return
        request = Request(scope)
        refusal = self.refusal(request)
        if refusal is not None:
            await PlainTextResponse(refusal, 403)(scope, receive, send)
            return
        if "token" in request.query_params:
            # The token came in the URL: put it in the cookie, and take it out of the address
            # bar (and of the history, and of any Referer) at once.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response = RedirectResponse(str(URL(path=request.url.path, query=urlencode(rest))), 303)
            response.set_cookie(self.keys.cookie, self.keys.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        """Why this request is refused (the 403's text), or None."""
        host = request.headers.get("host", "")
        if host not in self.keys.hosts:
            return "this page answers only at 127.0.0.1, [::1] or localhost with its own port"
        token = request.query_params.get("token") or request.cookies.get(self.keys.cookie)
        if not same(token, self.keys.token):
            return "open the page with the address 'facepace app' printed or opened (it holds a token)"
        if request.method not in SAFE_METHODS:
            if request.headers.get("origin") != f"http://{host}":
                return "changes are taken only from this page itself"
            if not same(request.headers.get(CSRF_HEADER), self.keys.csrf):
                return "changes need this page's CSRF token: reload the page"
        return None
