from fastapi import Request
from fastapi.responses import HTMLResponse

from pocketshop.accounts.deps import OptionalPageUser
from pocketshop.web.routing import page_router
from pocketshop.web.templating import render

router = page_router()


@router.api_route("/", methods=["GET", "HEAD"])
async def home(request: Request, user: OptionalPageUser) -> HTMLResponse:
    return render(request, "web/home.html")


@router.api_route("/healthz", methods=["GET", "HEAD"])
async def health() -> dict[str, str]:
    return {"status": "ok"}
