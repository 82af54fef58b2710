"""The buyer's storefront: a shop's home (groups, product grid, search) and a product page.

Both are served from the rendered-page cache (see pocketshop.web.page_cache): a render reads
the rows and names the cache tags of what it shows, so a price or stock change drops it.
"""

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, media
from pocketshop.accounts.deps import OptionalPageUser
from pocketshop.catalog import stock, storefront
from pocketshop.catalog.models import ProductGroup
from pocketshop.errors import AppError
from pocketshop.money import format_fen, yuan_text
from pocketshop.orders import shipping_fees
from pocketshop.orders.service import MAX_QUANTITY
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from pocketshop.web import page_cache
from pocketshop.web.page_cache import CSRF_PLACEHOLDER
from pocketshop.web.routing import Session, page_router
from pocketshop.web.storefront import absolute, price_range, shop_context
from pocketshop.web.templating import render

router = page_router()

PageNumber = Annotated[int, Query(ge=1, le=10_000)]
SearchText = Annotated[str, Query(max_length=60)]
GroupId = Annotated[str, Query(max_length=32)]


# --- shop home ---------------------------------------------------------------------------------


@router.api_route("/s/{slug}", methods=["GET", "HEAD"])
async def shop_home(
    slug: str,
    request: Request,
    session: Session,
    user: OptionalPageUser,
    group: GroupId = "",
    q: SearchText = "",
    page: PageNumber = 1,
) -> Response:
    async def render_home() -> tuple[HTMLResponse, Sequence[str]]:
        shop = await shops.get_by_slug_or_404(session, slug)
        groups = await storefront.groups_with_products(session, shop)
        current: ProductGroup | None = None
        if group:
            current = next((g for g in groups if g.public_id == group), None)
            current = current or await storefront.group_by_public_id(session, shop, group)
        query = q.strip()
        grid = await storefront.grid(
            session, shop, group=None if query else current, query=query, page=page
        )
        context = shop_context(request, shop)
        cover = next((item.cover_key for item in grid.items if item.cover_key), None)
        response = render(
            request,
            "catalog/store_home.html",
            {
                **context,
                # A chat card shows the logo, else the first product photo.
                "og_image": context["logo_absolute_url"]
                or (absolute(request, media.url(cover)) if cover else None),
                "groups": groups,
                "current_group": current,
                "query": query,
                "grid": grid,
                "page_link": _page_link(shop, current, query),
                "is_owner": user is not None and user.id == shop.owner_id,
            },
            csrf=CSRF_PLACEHOLDER,
        )
        return response, [cache.shop_tag(shop.id)]

    return await page_cache.serve(request, ("store_home",), render_home)


def _page_link(shop: Shop, group: ProductGroup | None, query: str) -> Any:
    """Links to other pages of the same listing (same group or search)."""

    def link(number: int) -> str:
        params: dict[str, Any] = {}
        if group is not None:
            params["group"] = group.public_id
        if query:
            params["q"] = query
        if number > 1:
            params["page"] = number
        return f"/s/{shop.slug}" + (f"?{urlencode(params)}" if params else "")

    return link


# --- product page ------------------------------------------------------------------------------


async def product_page(
    request: Request,
    session: AsyncSession,
    slug: str,
    product_id: str,
    *,
    csrf: str | None = None,
    error: AppError | None = None,
    chosen: list[str] | None = None,
    quantity: str = "1",
) -> tuple[HTMLResponse, list[str]]:
    """The product page and its cache tags; also re-rendered with an error when adding it to
    the cart was refused (a sold-out combination), keeping what the buyer chose."""
    shop = await shops.get_by_slug_or_404(session, slug)
    view = await storefront.product_view(session, shop, product_id)
    rule = await shipping_fees.rule_for(session, shop)
    product = view.product
    dimensions: list[dict[str, Any]] = product.specs or []
    picked = list(chosen or [])
    # A dimension with a single value needs no choosing.
    for index, dimension in enumerate(dimensions):
        if len(picked) <= index:
            picked.append("")
        if not picked[index] and len(dimension["values"]) == 1:
            picked[index] = dimension["values"][0]
    selected = next((sku for sku in view.skus if list(sku.spec_values) == picked), None)
    if not dimensions and view.skus:
        selected = view.skus[0]
    list_prices = [sku.list_price for sku in view.skus if sku.list_price]
    cover = view.images[0].key if view.images else None
    price_text = (
        format_fen(selected.price)
        if selected is not None
        else price_range(product.price_min, product.price_max)
    )
    response = render(
        request,
        "catalog/store_product.html",
        {
            **shop_context(request, shop),
            "view": view,
            "product": product,
            "dimensions": dimensions,
            "picked": picked,
            "selected": selected,
            "sold_out_values": _sold_out_values(view, dimensions),
            "price_text": price_text,
            "list_price": (selected.list_price if selected is not None else max(list_prices))
            if list_prices
            else None,
            "stock": stock.shown(selected.stock if selected is not None else view.stock),
            "low_stock": stock.LOW_STOCK,
            "max_quantity": MAX_QUANTITY,
            "quantity": quantity,
            "shipping": shipping_fees.describe(rule),
            "product_url": absolute(request, f"/s/{shop.slug}/p/{product.public_id}"),
            "og_image": absolute(request, media.url(cover)) if cover else None,
            "sku_data": [
                {
                    "spec": list(sku.spec_values),
                    "price": format_fen(sku.price),
                    "list_price": format_fen(sku.list_price) if sku.list_price else "",
                    "stock": stock.shown(sku.stock),
                }
                for sku in view.skus
            ],
            # A chat card's price: the chosen one, else the lowest ("from").
            "price_amount": yuan_text(
                selected.price if selected is not None else product.price_min
            ),
        },
        csrf=csrf,
        error=error,
    )
    return response, [cache.product_tag(product.id), cache.shop_tag(shop.id)]


def _sold_out_values(view: storefront.ProductView, dimensions: list[Any]) -> set[str]:
    """Values of a one-spec product that are sold out, marked even without JavaScript (with
    more specs, whether a value sells depends on the others: storefront.js greys those out)."""
    if len(dimensions) != 1:
        return set()
    return {sku.spec_values[0] for sku in view.skus if sku.stock <= 0}


@router.api_route("/s/{slug}/p/{product_id}", methods=["GET", "HEAD"])
async def show_product(
    slug: str, product_id: str, request: Request, session: Session, user: OptionalPageUser
) -> Response:
    # `user` is read for the top bar and the cache key (a cached page is per visitor login).
    async def render_product() -> tuple[HTMLResponse, Sequence[str]]:
        return await product_page(request, session, slug, product_id, csrf=CSRF_PLACEHOLDER)

    return await page_cache.serve(request, ("store_product",), render_product)
