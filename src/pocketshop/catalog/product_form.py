"""The product editor's form as typed: its fields read from a post, shown again when a change
is refused, the SKU matrix regenerated for the specs typed, and the service's input made
from it (console_pages has the routes)."""

import itertools
import json
import re
from dataclasses import dataclass, field

from markupsafe import Markup
from starlette.datastructures import FormData

from pocketshop.catalog import description, service
from pocketshop.catalog.models import Product, Sku
from pocketshop.catalog.service import ProductInput, SkuInput, SpecDimension
from pocketshop.errors import InvalidInput
from pocketshop.i18n import _
from pocketshop.money import parse_yuan, yuan_text
from pocketshop.text import clean_line
from pocketshop.web.console import parse_count

SPEC_SLOTS = service.MAX_DIMENSIONS
# Commas (ASCII and Chinese), the enumeration comma, semicolons or new lines separate values.
VALUE_SEPARATORS = re.compile(r"[,，、;；\r\n]+")


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

    @property
    def description_markup(self) -> Markup:
        """The description in the formatting editor (console.js)."""
        return description.display(self.description)

    @property
    def description_text(self) -> str:
        """The description in the plain text box shown without JavaScript."""
        return description.to_text(self.description)

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
        description=typed_description(form),
        specs=[
            SpecField(text_of(form, f"spec_{slot}_name"), text_of(form, f"spec_{slot}_values"))
            for slot in range(SPEC_SLOTS)
        ],
        rows=rows,
    )


def typed_description(form: FormData) -> str:
    """The description as HTML: the formatting editor's (console.js fills
    `description_html`), else the plain text box's, its blank lines made paragraphs."""
    edited = form.get("description_html")
    if isinstance(edited, str):
        return edited
    return description.from_text(text_of(form, "description"))


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
        description=form.description,
        group_id=form.group or None,
        category_code=form.category or None,
        specs=form.dimensions(),
        skus=tuple(skus),
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
