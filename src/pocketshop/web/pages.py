from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse

from pocketshop.accounts.deps import OptionalPageUser
from pocketshop.web.routing import page_router
from pocketshop.web.templating import render

router = page_router()

# Browsers ask for /favicon.ico whatever the page says; pages link the SVG (favicon.svg).
FAVICON = Path(__file__).parent / "static" / "favicon.ico"


@router.api_route("/", methods=["GET", "HEAD"])
async def home(request: Request, user: OptionalPageUser) -> HTMLResponse:
    return render(request, "web/home.html")


@router.api_route("/healthz", methods=["GET", "HEAD"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
async def favicon() -> FileResponse:
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=604800"}
    )
