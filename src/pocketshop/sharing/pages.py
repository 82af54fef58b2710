"""Share posters of a product and of a shop, as PNG images a buyer saves from the share sheet,
and the share sheet's QR code. Public, like the pages they share; drawn off the event loop and
kept per version."""

import asyncio
import functools
import io
from typing import Annotated

import segno
from fastapi import Query, Request
from fastapi.responses import Response

from pocketshop import media
from pocketshop.catalog import storefront as catalog_storefront
from pocketshop.errors import NotFound
from pocketshop.guessing.deps import LimitMisses
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.payments import requests as payment_requests
from pocketshop.sharing import posters
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from pocketshop.web.routing import AppSettings, Session, page_router, public_base_url
from pocketshop.web.storefront import price_range

router = page_router()

HINT = N_("Press and hold the QR code to open the link")
QR_LINK_MAX = 600  # the longest link a share sheet shows: a page's, with a sharer's token
QR_KEPT = 1024  # QR codes kept drawn in this process (a few kB each)
YEAR = 365 * 24 * 3600


@functools.lru_cache(maxsize=QR_KEPT)
def _qr_svg(link: str) -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False)
    return out.getvalue()


@router.api_route("/qr.svg", methods=["GET", "HEAD"])
async def qr_code(
    request: Request, link: Annotated[str, Query(max_length=QR_LINK_MAX)] = ""
) -> Response:
    """The QR code of one of this site's links, as SVG: the share sheet's, fetched when the
    sheet opens, since drawing it costs more than the page around it. The same link is the
    same picture, so browsers keep it for a year; other sites' links get none."""
    if not link.startswith(public_base_url(request) + "/"):
        raise NotFound(_("Only this shop's links have a QR code here."), code="link_not_ours")
    body = await asyncio.to_thread(_qr_svg, link)
    headers = {"Cache-Control": f"public, max-age={YEAR}, immutable"}
    return Response(body, media_type="image/svg+xml", headers=headers)


@router.api_route("/s/{slug}/p/{product_id}/poster.png", methods=["GET", "HEAD"])
async def product_poster(
    slug: str, product_id: str, request: Request, session: Session, settings: AppSettings
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    view = await catalog_storefront.product_view(session, shop, product_id)
    cover = view.images[0].key if view.images else None
    poster = posters.Poster(
        title=view.product.title,
        price=price_range(view.product.price_min, view.product.price_max),
        shop_name=shop.name,
        link=f"{_shop_link(request, shop)}/p/{view.product.public_id}",
        photo=media.path(settings, cover) if cover else None,
        logo=media.path(settings, shop.logo_key) if shop.logo_key else None,
        hint=_(HINT),
    )
    return await _answer(request, settings, poster, f"{shop.slug}-{view.product.public_id}")


@router.api_route("/s/{slug}/poster.png", methods=["GET", "HEAD"])
async def shop_poster(
    slug: str, request: Request, session: Session, settings: AppSettings
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    grid = await catalog_storefront.grid(session, shop, group=None, query="", page=1)
    cover = next((item.cover_key for item in grid.items if item.cover_key), None)
    poster = posters.Poster(
        title=shop.description or shop.name,
        price="",
        shop_name=shop.name,
        link=_shop_link(request, shop),
        photo=media.path(settings, cover) if cover else None,
        logo=media.path(settings, shop.logo_key) if shop.logo_key else None,
        hint=_(HINT),
    )
    return await _answer(request, settings, poster, shop.slug)


@router.api_route(
    "/s/{slug}/pay/{request_id}/poster.png", methods=["GET", "HEAD"], dependencies=[LimitMisses]
)
async def request_poster(
    slug: str, request_id: str, request: Request, session: Session, settings: AppSettings
) -> Response:
    shop = await shops.get_by_slug_or_404(session, slug)
    made = await payment_requests.get_for_shop_or_404(session, shop, request_id)
    summary = await payment_requests.summary(session, shop, made)
    logo = media.path(settings, shop.logo_key) if shop.logo_key else None
    poster = posters.Poster(
        title=made.note or _("Payment request from %(shop)s", shop=shop.name),
        price=format_fen(summary.total),
        shop_name=shop.name,
        link=payment_requests.link(public_base_url(request), shop, made),
        photo=logo,
        logo=logo,
        hint=_(HINT),
    )
    return await _answer(request, settings, poster, f"{shop.slug}-{made.public_id}")


def _shop_link(request: Request, shop: Shop) -> str:
    return shops.shop_url(public_base_url(request), shop)


async def _answer(
    request: Request, settings: AppSettings, poster: posters.Poster, name: str
) -> Response:
    body, digest = await asyncio.to_thread(posters.png, settings, poster)
    etag = f'"{digest}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=600",
        "Vary": "Accept-Language, Cookie",  # its hint is in the visitor's language
        "Content-Disposition": f'inline; filename="{name}-poster.png"',
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="image/png", headers=headers)
