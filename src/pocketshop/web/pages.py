from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse

from pocketshop import demo
from pocketshop.accounts.deps import OptionalPageUser
from pocketshop.accounts.service import display_phone
from pocketshop.config import Environment
from pocketshop.web.routing import AppSettings, Session, page_router
from pocketshop.web.templating import render

router = page_router()

# Browsers ask for /favicon.ico whatever the page says; pages link the SVG (favicon.svg).
FAVICON = Path(__file__).parent / "static" / "favicon.ico"


@router.api_route("/", methods=["GET", "HEAD"])
async def home(
    request: Request, session: Session, settings: AppSettings, user: OptionalPageUser
) -> HTMLResponse:
    # The demo's home leads into its shop and console too, not only to opening a shop.
    shop = await demo.shop_of_demo(session) if settings.env == Environment.demo else None
    return render(
        request,
        "web/home.html",
        {"demo_shop": shop, "demo_phone": display_phone(demo.DEMO_PHONE)},
    )


@router.api_route("/healthz", methods=["GET", "HEAD"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
async def favicon() -> FileResponse:
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=604800"}
    )
