"""The merchant's catalog in the console: products list, the product editor with its SKU
matrix, photos and stock, and product groups.

Every form works without JavaScript: the editor's "Update combinations" button re-renders the
matrix for the specs typed so far (console.js does the same live). A refused change re-renders
its form with the message and everything typed; a savepoint drops whatever the service flushed
before refusing, since the request's transaction still commits.
"""

import html
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from pocketshop import i18n, media
from pocketshop.catalog import adjustments, groups, service
from pocketshop.catalog import uploads as uploads_
from pocketshop.catalog.adjustments import AdjustmentReason
from pocketshop.catalog.models import PlatformCategory, Product, Sku
from pocketshop.catalog.service import (
    ProductInput,
    ProductStatus,
    SkuInput,
    SpecDimension,
)
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen, parse_yuan, yuan_text
from pocketshop.shops import service as shops
from pocketshop.shops.deps import ConsoleShop, console_shop_in
from pocketshop.shops.models import Shop
from pocketshop.text import clean_line
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
SPEC_SLOTS = service.MAX_DIMENSIONS
# Commas (ASCII and Chinese), the enumeration comma, semicolons or new lines separate values.
VALUE_SEPARATORS = re.compile(r"[,，、;；\r\n]+")
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z]")

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
    await service.set_status(session, shop, public_id, status)
    back = (
        next_url if next_url.startswith("/console/products") else f"/console/products/{public_id}"
    )
    return redirect_done(back, status.value)


# --- the editor's form ------------------------------------------------------------------------


@dataclass
class SpecField:
    name: str = ""
    values: str = ""


@dataclass
class SkuRow:
    spec: tuple[str, ...]
    price: str = ""
    list_price: str = ""
    stock: str = ""
    code: str = ""

    @property
    def spec_json(self) -> str:
        return spec_json(self.spec)

    @property
    def label(self) -> str:
        return service.spec_text(list(self.spec))


@dataclass
class EditorForm:
    title: str = ""
    group: str = ""
    category: str = ""
    description: str = ""
    specs: list[SpecField] = field(default_factory=list)
    rows: list[SkuRow] = field(default_factory=list)

    def dimensions(self) -> tuple[SpecDimension, ...]:
        return tuple(
            SpecDimension(spec.name, split_values(spec.values))
            for spec in self.specs
            if spec.name.strip() or spec.values.strip()
        )


def spec_json(spec: tuple[str, ...] | list[str]) -> str:
    """A combination as the form (and console.js's JSON.stringify) writes it."""
    return json.dumps(list(spec), ensure_ascii=False, separators=(",", ":"))


def split_values(text: str) -> tuple[str, ...]:
    values = (clean_line(value) for value in VALUE_SEPARATORS.split(text))
    return tuple(value for value in values if value)


def text_of(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def read_form(form: FormData) -> EditorForm:
    """What was typed, as typed: shown again when the form comes back."""
    rows = []
    for index in range(service.MAX_SKUS):
        raw = form.get(f"sku_{index}_spec")
        if not isinstance(raw, str):
            break
        rows.append(
            SkuRow(
                spec=spec_of(raw),
                price=text_of(form, f"sku_{index}_price"),
                list_price=text_of(form, f"sku_{index}_list_price"),
                stock=text_of(form, f"sku_{index}_stock"),
                code=text_of(form, f"sku_{index}_code"),
            )
        )
    return EditorForm(
        title=text_of(form, "title"),
        group=text_of(form, "group"),
        category=text_of(form, "category"),
        description=text_of(form, "description"),
        specs=[
            SpecField(text_of(form, f"spec_{slot}_name"), text_of(form, f"spec_{slot}_values"))
            for slot in range(SPEC_SLOTS)
        ],
        rows=rows,
    )


def spec_of(raw: str) -> tuple[str, ...]:
    try:
        values = json.loads(raw)
    except ValueError:
        values = None
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidInput(_("The form was damaged; please reload it."), code="invalid_form")
    return tuple(clean_line(value) for value in values)


def regenerate(form: EditorForm) -> None:
    """The rows for every combination of the specs typed, keeping what was typed for
    combinations that still exist."""
    typed = {row.spec: row for row in form.rows}
    dimensions = form.dimensions()
    combos = 1
    for dimension in dimensions:
        combos *= max(len(dimension.values), 1)
    if combos > service.MAX_SKUS:
        raise InvalidInput(
            _("Too many combinations: at most %(max)s.", max=service.MAX_SKUS),
            code="too_many_skus",
            field="specs",
        )
    form.rows = [
        typed.get(combo) or SkuRow(spec=combo)
        for combo in itertools.product(*(d.values for d in dimensions))
    ]


def parse_price(text: str, row: SkuRow, *, required: bool) -> int | None:
    if not text.strip() and not required:
        return None
    fen = parse_yuan(text) if text.strip() else None
    if fen is None:
        where = row.label or _("the product")
        raise InvalidInput(
            _("Enter the price of %(sku)s in yuan, like 12.50.", sku=where)
            if not text.strip()
            else _(
                "“%(text)s” is not a price in yuan (like 12.50) for %(sku)s.",
                text=text.strip(),
                sku=where,
            ),
            code="invalid_price",
            field="skus",
        )
    return fen


def product_input(form: EditorForm) -> ProductInput:
    """The service's input from the rows as submitted (a row missing from the form is a
    missing combination, which the service refuses)."""
    skus = []
    for row in form.rows:
        stock = (
            parse_count(
                row.stock,
                message=_("Enter the stock of %(sku)s as a whole number.", sku=row.label or "—"),
                field_name="skus",
            )
            if row.stock.strip()
            else 0
        )
        skus.append(
            SkuInput(
                spec=row.spec,
                price=parse_price(row.price, row, required=True) or 0,
                list_price=parse_price(row.list_price, row, required=False),
                stock=stock,
                code=row.code,
            )
        )
    return ProductInput(
        title=form.title,
        description=as_html(form.description),
        group_id=form.group or None,
        category_code=form.category or None,
        specs=form.dimensions(),
        skus=tuple(skus),
    )


def as_html(text: str) -> str:
    """Plain text becomes paragraphs and line breaks; HTML is left to the service's cleaner."""
    if HTML_TAG.search(text):
        return text
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    return "".join(
        "<p>" + "<br>".join(html.escape(line.strip()) for line in part.split("\n")) + "</p>"
        for part in paragraphs
        if part
    )


def form_of(product: Product, skus: list[Sku], group: str, category: str) -> EditorForm:
    specs = [SpecField(spec["name"], ", ".join(spec["values"])) for spec in product.specs]
    return EditorForm(
        title=product.title,
        group=group,
        category=category,
        description=product.description_html,
        specs=specs + [SpecField() for _slot in range(SPEC_SLOTS - len(specs))],
        rows=[
            SkuRow(
                spec=tuple(sku.spec_values),
                price=yuan_text(sku.price),
                list_price=yuan_text(sku.list_price),
                stock=str(sku.stock),
                code=sku.code,
            )
            for sku in skus
        ],
    )


def blank_form() -> EditorForm:
    return EditorForm(specs=[SpecField() for _slot in range(SPEC_SLOTS)], rows=[SkuRow(spec=())])


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


@router.post("/products/new")
async def create_product(request: Request, session: Session, shop: ConsoleShop) -> Response:
    submitted = await request.form()
    action = text_of(submitted, "action")
    form = read_form(submitted)
    try:
        async with attempt(session):
            if action == "matrix":
                regenerate(form)
                return await editor_page(request, session, shop, None, form)
            async with attempt(session):
                product = await service.create(
                    session, shop, product_input(form), user_id=shop.owner_id
                )
                if action == "publish":
                    await service.set_status(
                        session, shop, product.public_id, ProductStatus.on_sale
                    )
    except AppError as error:
        return await editor_page(request, session, shop, None, form, error=error)
    done = "published" if action == "publish" else "created"
    return redirect_done(f"/console/products/{product.public_id}", done)


@router.get("/products/{public_id}")
async def edit_product_page(
    public_id: str, request: Request, session: Session, shop: ConsoleShop
) -> Response:
    product = await service.get_or_404(session, shop, public_id)
    return await editor_page(request, session, shop, product)


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
    """Photos decoded before the transaction that records them; kept once it committed."""
    limit = get_settings(request).product_image_max_bytes + 1
    # Browsers send one empty part when no file was chosen.
    uploads = [await upload.read(limit) for upload in images if upload.filename]
    try:
        async with unit(request, write=False) as session:
            await console_shop_in(session, request)  # who asks, before any decoding
        await uploads_.add_photos(request, console_shop_in, public_id, uploads)
    except AppError as error:
        # Whatever the refused step wrote was rolled back with its transaction.
        async with unit(request, write=False) as session:
            shop = await console_shop_in(session, request)
            product = await service.get_or_404(session, shop, public_id)
            return await editor_page(request, session, shop, product, error=error)
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
    await change(session, shop, public_id, image_id)
    return redirect_done(f"/console/products/{public_id}", done)


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
