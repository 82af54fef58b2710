"""The merchant's catalog in the console: products list, the product editor with its SKU
matrix, photos and stock, and product groups.

Every form works without JavaScript: the editor's "Update combinations" button re-renders the
matrix for the specs typed so far (console.js does the same live). A refused change re-renders
its form with the message and everything typed; a savepoint drops whatever the service flushed
before refusing, since the request's transaction still commits.
"""

import json
from typing import Annotated, Any

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import i18n, media
from pocketshop.catalog import adjustments, groups, service
from pocketshop.catalog import uploads as uploads_
from pocketshop.catalog.adjustments import AdjustmentReason
from pocketshop.catalog.models import PlatformCategory, Product
from pocketshop.catalog.product_form import (
    EditorForm,
    SkuRow,
    blank_form,
    form_of,
    product_input,
    read_form,
    regenerate,
    spec_json,
    text_of,
)
from pocketshop.catalog.service import (
    ProductStatus,
)
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.shops import service as shops
from pocketshop.shops.deps import ConsoleShop, console_shop_in
from pocketshop.shops.models import Shop
from pocketshop.web.console import nav_context, parse_count, redirect_done
from pocketshop.web.routing import (
    Session,
    get_settings,
    outside_page_router,
    page_router,
    public_base_url,
    unit,
)
from pocketshop.web.templating import render

router = page_router(prefix="/console")
# Routes that decode uploads before their transaction (see OutsideRoute).
outside = outside_page_router(prefix="/console")

PageNumber = Annotated[int, Query(ge=1, le=10_000)]

TABS = {
    "all": (N_("All"), None),
    "on_sale": (N_("On sale"), ProductStatus.on_sale),
    "draft": (N_("Drafts"), ProductStatus.draft),
    "off_shelf": (N_("Off shelf"), ProductStatus.off_shelf),
}
NOTICES = {
    "saved": N_("Saved."),
    "created": N_("Product created. Add photos, then publish it."),
    "published": N_("Saved and on sale."),
    "on_sale": N_("The product is on sale."),
    "off_shelf": N_("The product is off the shelf."),
    "photos": N_("Photos added."),
    "photo_removed": N_("Photo removed."),
    "cover": N_("Cover photo changed."),
    "stock": N_("Stock updated."),
    "group_saved": N_("Groups saved."),
}


def notice_of(request: Request) -> str | None:
    key = request.query_params.get("done", "")
    return _(NOTICES[key]) if key in NOTICES else None


# --- products list ----------------------------------------------------------------------------


@router.get("/products")
async def products_list(
    request: Request,
    session: Session,
    shop: ConsoleShop,
    tab: Annotated[str, Query(alias="status", max_length=16)] = "all",
    q: Annotated[str, Query(max_length=60)] = "",
    page: PageNumber = 1,
) -> Response:
    tab = tab if tab in TABS else "all"
    found = await service.list_for_shop(session, shop, status=TABS[tab][1], query=q, page=page)
    stock = await service.stock_totals(session, found.products)
    rows = [
        {
            "product": product,
            "cover": media.url(product.cover_key) if product.cover_key else None,
            "price": price_range(product),
            "stock": stock[product.id],
            "status_label": _(service.STATUS_LABELS[ProductStatus(product.status)]),
        }
        for product in found.products
    ]
    return render(
        request,
        "catalog/console_products.html",
        {
            **await nav_context(session, shop, "products"),
            "tabs": [(key, _(label)) for key, (label, _status) in TABS.items()],
            "tab": tab,
            "q": q,
            "rows": rows,
            "page": found.page,
            "has_next": found.has_next,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "notice": notice_of(request),
        },
    )


def price_range(product: Product) -> str:
    if product.price_min == product.price_max:
        return format_fen(product.price_min)
    return f"{format_fen(product.price_min)} – {format_fen(product.price_max)}"


@router.post("/products/{public_id}/status")
async def set_status(
    public_id: str,
    session: Session,
    shop: ConsoleShop,
    status: Annotated[ProductStatus, Form()],
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    try:
        async with attempt(session):
            await service.set_status(session, shop, public_id, status)
    except AppError as error:
        return photos_refused(public_id, error)  # no photo yet: add one on the editor
    back = (
        next_url if next_url.startswith("/console/products") else f"/console/products/{public_id}"
    )
    return redirect_done(back, status.value)


# --- the editor -------------------------------------------------------------------------------


async def editor_page(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    product: Product | None,
    form: EditorForm | None = None,
    *,
    error: AppError | None = None,
    adjust: dict[str, str] | None = None,
) -> Response:
    shelves = await groups.list_groups(session, shop)
    categories = await groups.category_tree(session)
    context: dict[str, Any] = {
        **await nav_context(session, shop, "products"),
        "product": product,
        "groups": shelves,
        "categories": category_options(categories),
        "reasons": [
            (reason.value, _(label)) for reason, label in adjustments.ADJUSTMENT_REASONS.items()
        ],
        "adjust": adjust or {},
        "notice": None if error else notice_of(request),
        "max_images": service.MAX_IMAGES,
        "upload_max_mb": request.app.state.settings.max_request_bytes // 2**20,
        "existing": {},
        "existing_json": "{}",
        "blank_row": SkuRow(spec=()),
    }
    if product is not None:
        skus = await service.skus_of(session, product, active_only=False)
        if form is None:
            group = next((g.public_id for g in shelves if g.id == product.group_id), "")
            category = next((c.code for c in categories if c.id == product.category_id), "")
            form = form_of(product, [sku for sku in skus if sku.active], group, category)
        context.update(
            existing={tuple(sku.spec_values): sku for sku in skus},
            existing_json=json.dumps(
                {spec_json(sku.spec_values): sku.stock for sku in skus}, ensure_ascii=False
            ),
            active_skus=[sku for sku in skus if sku.active],
            images=[
                (image, media.url(image.thumb_key))
                for image in await service.images_of(session, product)
            ],
            history=[
                (adjustment, service.spec_text(sku.spec_values), _reason_label(adjustment.reason))
                for adjustment, sku in await adjustments.stock_history(
                    session, shop, product.public_id
                )
            ],
            status_label=_(service.STATUS_LABELS[ProductStatus(product.status)]),
            product_url=f"{shops.shop_url(public_base_url(request), shop)}/p/{product.public_id}",
        )
    context["form"] = form or blank_form()
    return render(request, "catalog/console_product_edit.html", context, error=error)


def _reason_label(reason: str) -> str:
    try:
        return _(adjustments.ADJUSTMENT_REASONS[AdjustmentReason(reason)])
    except ValueError:
        return reason


def category_options(
    categories: list[PlatformCategory],
) -> list[tuple[str, list[tuple[str, str]]]]:
    """(parent name, [(code, child name)]) in the tree's order; a parent without children is
    its own only choice."""
    english = i18n.get_locale() != "zh_CN"

    def name(category: PlatformCategory) -> str:
        return category.name_en if english else category.name_zh

    children: dict[int, list[tuple[str, str]]] = {}
    for category in categories:
        if category.parent_id is not None:
            children.setdefault(category.parent_id, []).append((category.code, name(category)))
    return [
        (name(parent), children.get(parent.id) or [(parent.code, name(parent))])
        for parent in categories
        if parent.parent_id is None
    ]


@router.get("/products/new")
async def new_product(request: Request, session: Session, shop: ConsoleShop) -> Response:
    return await editor_page(request, session, shop, None)


@outside.post("/products")
async def create_product(request: Request) -> Response:
    """The new-product form, its photos with it: decoded before the transaction that creates
    the product (uploads.create_product); a bad photo or field creates nothing."""
    submitted = await request.form()
    action = text_of(submitted, "action")
    form = read_form(submitted)
    error: AppError | None = None
    try:
        async with unit(request, write=False) as session:
            await console_shop_in(session, request)  # who asks, before anything is read
            if action == "matrix":
                regenerate(form)
        if action != "matrix":
            product = await uploads_.create_product(
                request,
                console_shop_in,
                product_input(form),
                await uploads_.read_uploads(request, submitted),
                publish=action == "publish",
            )
            done = "published" if action == "publish" else "created"
            return redirect_done(f"/console/products/{product.public_id}", done)
    except AppError as refused:
        error = refused
    async with unit(request, write=False) as session:
        shop = await console_shop_in(session, request)
        return await editor_page(request, session, shop, None, form, error=error)


@router.get("/products/{public_id}")
async def edit_product_page(
    public_id: str, request: Request, session: Session, shop: ConsoleShop
) -> Response:
    product = await service.get_or_404(session, shop, public_id)
    return await editor_page(request, session, shop, product, error=photo_refusal(request))


@router.post("/products/{public_id}")
async def edit_product(
    public_id: str, request: Request, session: Session, shop: ConsoleShop
) -> Response:
    product = await service.get_or_404(session, shop, public_id)
    submitted = await request.form()
    action = text_of(submitted, "action")
    form = read_form(submitted)
    try:
        async with attempt(session):
            if action == "matrix":
                regenerate(form)
                return await editor_page(request, session, shop, product, form)
            async with attempt(session):
                await service.edit(session, shop, public_id, product_input(form))
                if action == "publish" and product.status != ProductStatus.on_sale:
                    await service.set_status(session, shop, public_id, ProductStatus.on_sale)
    except AppError as error:
        product = await service.get_or_404(session, shop, public_id)
        return await editor_page(request, session, shop, product, form, error=error)
    return redirect_done(
        f"/console/products/{public_id}", "published" if action == "publish" else "saved"
    )


@outside.post("/products/{public_id}/images")
async def add_images(
    public_id: str, request: Request, images: Annotated[list[UploadFile], File()]
) -> Response:
    """Photos decoded before the transaction that records them; kept once it committed. A
    refusal comes back as the editor's address with its code (see photo_refusal)."""
    uploads = await uploads_.read_uploads(request, images)
    try:
        async with unit(request, write=False) as session:
            await console_shop_in(session, request)  # who asks, before any decoding
        await uploads_.add_photos(request, console_shop_in, public_id, uploads)
    except AppError as error:
        # Whatever the refused step wrote was rolled back with its transaction.
        return photos_refused(public_id, error)
    return redirect_done(f"/console/products/{public_id}#photos", "photos")


# A photo's buttons: the last part of the address names the change, then its notice.
IMAGE_ACTIONS = {
    "remove": (service.remove_image, "photo_removed"),
    "cover": (service.move_image_first, "cover"),
}


@router.post("/products/{public_id}/images/{image_id}/{action}")
async def change_image(
    public_id: str, image_id: str, action: str, session: Session, shop: ConsoleShop
) -> Response:
    if action not in IMAGE_ACTIONS:
        raise NotFound(_("Page not found."))
    change, done = IMAGE_ACTIONS[action]
    try:
        async with attempt(session):
            await change(session, shop, public_id, image_id)
    except AppError as error:
        return photos_refused(public_id, error)
    return redirect_done(f"/console/products/{public_id}#photos", done)


def photos_refused(public_id: str, error: AppError) -> Response:
    """POST-redirect-GET to the editor's photos, the refusal named by its code (refresh and
    back then post nothing again); what is not about photos is answered as it is."""
    if error.code not in PHOTO_REFUSALS:
        raise error
    return RedirectResponse(
        f"/console/products/{public_id}?photo_error={error.code}#photos", status_code=303
    )


def photo_refusal(request: Request) -> AppError | None:
    """The refusal named in the editor's address, with its fixed message (never the
    address's own text)."""
    code = request.query_params.get("photo_error", "")
    if code not in PHOTO_REFUSALS:
        return None
    settings = get_settings(request)
    message = _(
        PHOTO_REFUSALS[code],
        mb=settings.product_image_max_bytes // 2**20,
        megapixels=settings.product_image_max_pixels // 1_000_000,
        max=service.MAX_IMAGES,
    )
    return InvalidInput(message, code=code, field="images")


PHOTO_REFUSALS = {
    "invalid_image": N_("A photo could not be read: photos must be JPEG, PNG, WebP or GIF."),
    "image_too_large": N_(
        "A photo is too large: at most %(mb)s MB and %(megapixels)s megapixels each."
    ),
    "too_many_images": N_("A product can have at most %(max)s photos."),
    "no_images": N_("Choose at least one photo."),
    "photo_required": N_("A product on sale needs at least one photo."),
}


@router.post("/products/{public_id}/stock")
async def adjust_stock(
    public_id: str,
    request: Request,
    session: Session,
    shop: ConsoleShop,
    sku: Annotated[str, Form(max_length=32)] = "",
    delta: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    product = await service.get_or_404(session, shop, public_id)
    try:
        async with attempt(session):
            change = parse_count(
                delta,
                message=_("Enter the change as a whole number, like 5 or -2."),
                field_name="delta",
            )
            if reason not in {r.value for r in AdjustmentReason}:
                raise InvalidInput(_("Choose a reason."), code="invalid_reason", field="reason")
            async with attempt(session):
                await adjustments.adjust_stock(
                    session,
                    shop,
                    sku,
                    delta=change,
                    reason=AdjustmentReason(reason),
                    note=note,
                    user_id=shop.owner_id,
                    product=product,
                )
    except AppError as error:
        typed = {"sku": sku, "delta": delta, "reason": reason, "note": note}
        product = await service.get_or_404(session, shop, public_id)
        return await editor_page(request, session, shop, product, error=error, adjust=typed)
    return redirect_done(f"/console/products/{public_id}#stock", "stock")
