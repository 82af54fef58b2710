"""`pocketshop serve` with the change proposed for app.py: `page_cache.CachedPages` installed
inside LocaleMiddleware, so logged-out visitors' cached pages skip routing. Used by run.py for
the "+CachedPages" rows until app.py installs it itself (then this adds nothing).

    python benchmarks/serve_proposed.py --port 8765
"""

import sys
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware

from pocketshop import app as app_module
from pocketshop import cli
from pocketshop.accounts.deps import SESSION_COOKIE
from pocketshop.web.page_cache import CachedPages

_create_app = app_module.create_app


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    app = _create_app(*args, **kwargs)
    if not any(getattr(m, "cls", None) is CachedPages for m in app.user_middleware):
        # user_middleware[0] is the outermost: LocaleMiddleware. Inside it, as proposed.
        app.user_middleware.insert(1, Middleware(CachedPages, login_cookie=SESSION_COOKIE))
    return app


app_module.create_app = create_app

if __name__ == "__main__":
    sys.exit(cli.main(["serve", *sys.argv[1:]]))
