"""Where an attributed link or QR code lands: `/s/<slug>/go/<token>` binds the visitor to the
link's source (a guest in a cookie until they log in) and sends them on to the shop's home or
the product the link leads to. A link that is not good lands on the shop, unattributed."""

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from pocketshop.accounts.deps import OptionalPageUser
from pocketshop.attribution import bindings, service, tokens
from pocketshop.catalog.models import Product
from pocketshop.shops import service as shops
from pocketshop.web import guest_source
from pocketshop.web.routing import AppSettings, Session, page_router

router = page_router()


@router.get("/s/{slug}/go/{token}")
async def follow_link(
    slug: str,
    token: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    user: OptionalPageUser,
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    home = RedirectResponse(f"/s/{shop.slug}", status_code=303)
    link = tokens.read(settings, token)
    if link is None or link.shop_id != shop.id:
        return home
    response = home
    if link.product_id is not None:
        product = await session.scalar(
            select(Product.public_id).where(
                Product.id == link.product_id, Product.shop_id == shop.id
            )
        )
        if product is not None:
            response = RedirectResponse(f"/s/{shop.slug}/p/{product}", status_code=303)
    source = await bindings.resolve(session, shop, link.kind, link.ref_id)
    if source is None:
        return response
    if source.campaign_id is not None:
        await service.count_visit(session, source.campaign_id)
    if user is not None:
        await bindings.bind(session, settings, shop, user, source)
    else:
        guest_source.remember(request, response, shop, link.kind, link.ref_id)
    return response
