"""What every storefront page of a shop shows: its header and links, and how prices and times
read there. Each domain's storefront pages use these; none imports another domain's pages."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request

from pocketshop import media
from pocketshop.attribution import service as attribution
from pocketshop.config import Settings
from pocketshop.i18n import _
from pocketshop.money import format_fen
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from pocketshop.web.routing import public_base_url


def local_time(moment: datetime | None, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M") if moment else ""


def price_range(low: int, high: int) -> str:
    """One price, or the lowest with "from" (¥12.00 起) when the SKUs differ in price."""
    return format_fen(low) if low == high else _("from %(price)s", price=format_fen(low))


def absolute(request: Request, path: str) -> str:
    """Chat cards need absolute URLs."""
    return public_base_url(request).rstrip("/") + path


def share_link(request: Request, shop: Shop, path: str, product_id: int | None = None) -> str:
    """The link the share sheet offers: a signed-in customer's own, which binds whoever
    follows it to them (attribution); anyone else's, and the owner's, the page's plain link."""
    user = getattr(request.state, "user", None)
    if user is None or user.id == shop.owner_id:
        return absolute(request, path)
    settings: Settings = request.app.state.settings
    return absolute(request, attribution.share_path(settings, shop, user.id, product_id))


def shop_context(request: Request, shop: Shop) -> dict[str, Any]:
    """What every storefront page of a shop shows or links to."""
    logo_url = shops.logo_url(shop)
    return {
        "store_header": True,  # web/base.html draws the shop's header, not the site's top bar
        "shop": shop,
        "shop_path": f"/s/{shop.slug}",
        "shop_url": shops.shop_url(public_base_url(request), shop),
        "shop_share_link": share_link(request, shop, f"/s/{shop.slug}"),
        "logo_url": logo_url,
        "logo_absolute_url": absolute(request, logo_url) if logo_url else None,
        "fen": format_fen,
        "price_range": price_range,
        "media_url": media.url,
    }
