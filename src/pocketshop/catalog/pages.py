"""The buyer's storefront: a shop's home (groups, product grid, search) and a product page.

Both are served from the rendered-page cache (see pocketshop.web.page_cache): a render reads
the rows and names the cache tags of what it shows, so a price or stock change drops it.

When adding to the cart is refused, orders.pages sends the buyer back to the product page
with the refusal's code in the URL (`?error=sold_out&spec0=红&qty=2#buy`): the page tells it
next to the SKU picker, from a fixed message and the product's own data, and is never cached.
"""

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, media
from pocketshop.accounts.deps import OptionalPageUser
from pocketshop.accounts.models import User
from pocketshop.catalog import description, stock, storefront
from pocketshop.catalog.models import ProductGroup
from pocketshop.customers import privileges
from pocketshop.errors import AppError, refusal_of
from pocketshop.money import format_fen, yuan_text
from pocketshop.orders import cart, shipping_fees
from pocketshop.orders.service import MAX_QUANTITY
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop
from pocketshop.web import page_cache
from pocketshop.web.page_cache import CSRF_PLACEHOLDER
from pocketshop.web.routing import Session, page_router
from pocketshop.web.storefront import absolute, price_range, share_link, shop_context
from pocketshop.web.templating import render

# What a shared link opens: pages that only read, without BEGIN and COMMIT on PostgreSQL.
router = page_router(reads_only=True)

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


# The codes of the cart's refusals that the product page explains (orders.cart and
# catalog.storefront.choose_sku); any other `error` in the address is ignored.
CART_REFUSALS = frozenset(
    {
        "spec_required",
        "sku_not_found",
        "sold_out",
        "not_enough_stock",
        "invalid_quantity",
        "cart_full",
    }
)


# --- product page ------------------------------------------------------------------------------


async def product_page(
    request: Request,
    session: AsyncSession,
    slug: str,
    product_id: str,
    *,
    csrf: str | None = None,
    refusal: str = "",
    chosen: list[str] | None = None,
    quantity: str = "",
    buyer: User | None = None,
) -> tuple[HTMLResponse, list[str]]:
    """The product page and its cache tags; with `refusal`, the code of a refused add to the
    cart, the page tells why next to the picker, keeping what the buyer chose. A signed-in
    `buyer` sees the prices their privileges give them (customers.privileges)."""
    shop = await shops.get_by_slug_or_404(session, slug)
    view = await storefront.product_view(session, shop, product_id)
    tags = [cache.product_tag(view.product.id), cache.shop_tag(shop.id)]
    offers: dict[int, privileges.Offer] = {}
    if buyer is not None:
        regular = {sku.id: sku.price for sku in view.skus}
        offers = await privileges.offers_for(session, shop.id, buyer.id, regular)
        # A new privilege drops the page; one that runs out says nothing: not kept then.
        tags += [cache.privileges_tag(shop.id), *([page_cache.UNCACHED] if offers else [])]

    def price_of(sku: storefront.SkuView) -> int:
        return offers[sku.id].price if sku.id in offers else sku.price

    def struck_of(sku: storefront.SkuView) -> int | None:
        """The price shown struck through: the regular one under a special price, else the
        list price."""
        return sku.price if sku.id in offers else sku.list_price

    rule = await shipping_fees.rule_for(session, shop)
    product = view.product
    dimensions: list[dict[str, Any]] = product.specs or []
    given = list(chosen or [])
    picked = []
    for index, dimension in enumerate(dimensions):
        value = given[index] if index < len(given) else ""
        # Only the product's own values count; a dimension with one value needs no choosing.
        if value not in dimension["values"]:
            value = dimension["values"][0] if len(dimension["values"]) == 1 else ""
        picked.append(value)
    selected = next((sku for sku in view.skus if list(sku.spec_values) == picked), None)
    if not dimensions and view.skus:
        selected = view.skus[0]
    error = _refusal(refusal, view, picked, quantity) if refusal else None
    struck = [price for sku in view.skus if (price := struck_of(sku))]
    cover = view.images[0].key if view.images else None
    prices = [price_of(sku) for sku in view.skus]
    price_text = (
        format_fen(price_of(selected))
        if selected is not None
        else price_range(min(prices, default=product.price_min), max(prices, default=0))
        if offers
        else price_range(product.price_min, product.price_max)
    )
    response = render(
        request,
        "catalog/store_product.html",
        {
            **shop_context(request, shop),
            "view": view,
            "product": product,
            "description": description.display(product.description_html),
            "dimensions": dimensions,
            "picked": picked,
            "selected": selected,
            "sold_out_values": _sold_out_values(view, dimensions),
            "price_text": price_text,
            "list_price": (struck_of(selected) if selected is not None else max(struck))
            if struck
            else None,
            "special_price": bool(offers),
            "stock": stock.shown(selected.stock if selected is not None else view.stock),
            "low_stock": stock.LOW_STOCK,
            "max_quantity": MAX_QUANTITY,
            "quantity": quantity or "1",
            "shipping": shipping_fees.describe(rule),
            "product_url": absolute(request, f"/s/{shop.slug}/p/{product.public_id}"),
            "share_link": share_link(
                request, shop, f"/s/{shop.slug}/p/{product.public_id}", product.id
            ),
            "og_image": absolute(request, media.url(cover)) if cover else None,
            "sku_data": [
                {
                    "spec": list(sku.spec_values),
                    "price": format_fen(price_of(sku)),
                    "list_price": format_fen(price) if (price := struck_of(sku)) else "",
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
    return response, tags


def _refusal(
    code: str, view: storefront.ProductView, picked: list[str], quantity: str
) -> AppError | None:
    """Why an add to the cart was refused (`code`, from the redirect), found again by the checks
    the cart runs, so the message is theirs, written once, and says what is wrong now (a size
    no longer sold is now "choose a size"); None when nothing is (the stock came back, say).
    Answered 200: this page is where the buyer fixes it."""
    if code not in CART_REFUSALS:
        return None
    dimensions = view.product.specs or []

    def checks() -> None:
        if code == "cart_full":
            raise cart.cart_full()
        # As the cart checks: the quantity first (one that was not a number came back empty).
        asked = int(quantity) if quantity else 0
        cart.check_quantity(asked)
        storefront.choose_sku(view, picked, asked)

    refused = refusal_of(checks)
    if refused is None:
        return None
    # The combination's own refusals belong to the last choice made.
    last_spec = f"spec{len(dimensions) - 1}" if dimensions else None
    whole = refused.code in ("sku_not_found", "sold_out")
    field = refused.field or (last_spec if whole else None)
    return AppError(refused.message, code=refused.code, field=field, status_code=200)


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
    query = request.query_params
    if "error" in query:
        # Back from a refused add to the cart: this visitor's page alone, never cached.
        typed = query.get("qty", "")
        digits = typed.isascii() and typed.isdigit() and len(typed) <= 6
        page, _tags = await product_page(
            request,
            session,
            slug,
            product_id,
            refusal=query["error"],
            chosen=[query.get(f"spec{index}", "") for index in range(3)],
            quantity=typed if digits else "",
            buyer=user,
        )
        return page

    async def render_product() -> tuple[HTMLResponse, Sequence[str]]:
        return await product_page(
            request, session, slug, product_id, csrf=CSRF_PLACEHOLDER, buyer=user
        )

    return await page_cache.serve(request, ("store_product",), render_product)
