"""The merchant's customers, their tags and notes, and privileges, through the API."""

from typing import Annotated

from fastapi import Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import spreadsheets
from pocketshop.attribution import service as attribution
from pocketshop.customers import export, privileges, service
from pocketshop.customers.models import PrivilegeKind
from pocketshop.customers.schemas import (
    CustomerDetailOut,
    CustomerListOut,
    CustomerOrderOut,
    CustomerOut,
    NoteIn,
    PrivilegeIn,
    PrivilegeOut,
    TagCountOut,
    TagIn,
    TagOut,
)
from pocketshop.customers.service import Filters, Row, Sort
from pocketshop.shops.deps import MerchantShop
from pocketshop.shops.models import Shop
from pocketshop.web.routing import Session, api_router

router = api_router(prefix="/api/v1/me/shop", tags=["customers"])
PageNumber = Annotated[int, Query(ge=1, le=10_000)]


async def filters_of(
    q: Annotated[str, Query(max_length=60)] = "",
    tag: Annotated[str, Query(max_length=32, description="a tag's id")] = "",
    source: Annotated[
        str, Query(pattern="^(|direct|store|staff|campaign|share)$", description="where from")
    ] = "",
    min_orders: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Sort = Sort.recent,
) -> Filters:
    return Filters(query=q, tag=tag, source=source, min_orders=min_orders, sort=sort)


CustomerFilters = Annotated[Filters, Depends(filters_of)]


async def customer_out(session: AsyncSession, row: Row) -> CustomerOut:
    customer = row.customer
    return CustomerOut(
        id=customer.public_id,
        name=customer.name,
        phone=row.phone,
        first_order_at=customer.first_order_at,
        last_order_at=customer.last_order_at,
        orders=customer.orders,
        spent=customer.spent,
        source=customer.source_kind,
        source_text=await attribution.describe(
            session,
            customer.source_kind,
            store_id=customer.source_store_id,
            staff_id=customer.source_staff_id,
            campaign_id=customer.source_campaign_id,
        ),
        tags=[TagOut(id=tag.public_id, name=tag.name) for tag in row.tags],
        note=customer.note,
    )


async def _detail(session: AsyncSession, shop: Shop, customer_id: str) -> CustomerDetailOut:
    row = await service.get_or_404(session, shop, customer_id)
    history = await service.orders_of(session, row.customer)
    return CustomerDetailOut(
        **(await customer_out(session, row)).model_dump(),
        orders_list=[
            CustomerOrderOut(
                number=order.number,
                status=order.status,
                total=order.total,
                created_at=order.created_at,
            )
            for order in history
        ],
    )


@router.get("/customers")
async def list_customers(
    session: Session,
    shop: MerchantShop,
    filters: CustomerFilters,
    page: PageNumber = 1,
) -> CustomerListOut:
    """Buyers who paid the shop, with what they bought and where they came from; filtered by
    name or phone (`q`), tag, source and a least number of orders."""
    found = await service.page_of(session, shop, filters, page=page)
    return CustomerListOut(
        items=[await customer_out(session, row) for row in found.rows],
        page=found.page,
        has_next=found.has_next,
    )


@router.get(
    "/customers.csv",
    response_class=Response,
    responses={200: {"content": {spreadsheets.CSV_MEDIA_TYPE: {}}}},
)
async def export_customers_csv(
    session: Session, shop: MerchantShop, filters: CustomerFilters
) -> Response:
    """The customers the filters keep, as CSV (UTF-8 with a byte order mark, for Excel)."""
    found = await export.table(session, shop, filters)
    return await spreadsheets.csv_response(found, f"{shop.slug}-customers")


@router.get(
    "/customers.xlsx",
    response_class=Response,
    responses={200: {"content": {spreadsheets.XLSX_MEDIA_TYPE: {}}}},
)
async def export_customers_xlsx(
    session: Session, shop: MerchantShop, filters: CustomerFilters
) -> Response:
    """The same, as an Excel workbook."""
    found = await export.table(session, shop, filters)
    return await spreadsheets.xlsx_response(found, export.title(), f"{shop.slug}-customers")


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: str, session: Session, shop: MerchantShop) -> CustomerDetailOut:
    return await _detail(session, shop, customer_id)


@router.put("/customers/{customer_id}/note")
async def set_note(
    customer_id: str, body: NoteIn, session: Session, shop: MerchantShop
) -> CustomerDetailOut:
    row = await service.get_or_404(session, shop, customer_id)
    await service.set_note(session, row.customer, body.note)
    return await _detail(session, shop, customer_id)


@router.post("/customers/{customer_id}/tags", status_code=status.HTTP_201_CREATED)
async def tag_customer(
    customer_id: str, body: TagIn, session: Session, shop: MerchantShop
) -> CustomerDetailOut:
    """Tag the customer; a tag of a new name is made."""
    row = await service.get_or_404(session, shop, customer_id)
    await service.add_tag(session, shop, row.customer, body.name)
    return await _detail(session, shop, customer_id)


@router.delete("/customers/{customer_id}/tags/{tag_id}")
async def untag_customer(
    customer_id: str, tag_id: str, session: Session, shop: MerchantShop
) -> CustomerDetailOut:
    row = await service.get_or_404(session, shop, customer_id)
    tag = await service.tag_or_404(session, shop, tag_id)
    await service.remove_tag(session, row.customer, tag)
    return await _detail(session, shop, customer_id)


@router.get("/customer-tags")
async def list_tags(session: Session, shop: MerchantShop) -> list[TagCountOut]:
    return [
        TagCountOut(id=tag.public_id, name=tag.name, customers=count)
        for tag, count in await service.tags(session, shop)
    ]


# --- privileges --------------------------------------------------------------------------------


def privilege_out(listed: privileges.Listed) -> PrivilegeOut:
    privilege = listed.privilege
    return PrivilegeOut(
        id=privilege.public_id,
        sku_id=listed.sku_id,
        title=listed.title,
        spec=listed.spec,
        regular_price=listed.regular,
        price=listed.price,
        kind=PrivilegeKind(privilege.kind),
        value=privilege.value,
        customer_id=listed.customer_id,
        tag_id=listed.tag_id,
        expires_at=privilege.expires_at,
        live=listed.live,
    )


@router.get("/privileges")
async def list_privileges(session: Session, shop: MerchantShop) -> list[PrivilegeOut]:
    """Special prices for customers and tags, newest first, expired ones included."""
    return [privilege_out(listed) for listed in await privileges.of_shop(session, shop)]


@router.post("/privileges", status_code=status.HTTP_201_CREATED)
async def create_privilege(
    body: PrivilegeIn, session: Session, shop: MerchantShop
) -> list[PrivilegeOut]:
    """A special price on every SKU of a product, for one customer or every customer with a
    tag: what checkout charges them while it lasts. One privilege per SKU is made."""
    customer = (
        (await service.get_or_404(session, shop, body.customer_id)).customer
        if body.customer_id
        else None
    )
    tag = await service.tag_or_404(session, shop, body.tag_id) if body.tag_id else None
    made = await privileges.create(
        session,
        shop,
        product_id=body.product_id,
        kind=body.kind.value,
        value=body.value,
        customer=customer,
        tag=tag,
        expires_at=body.expires_at,
    )
    ids = {privilege.id for privilege in made}
    listed = await privileges.of_shop(session, shop, customer=customer, tag=tag)
    return [privilege_out(item) for item in listed if item.privilege.id in ids]


@router.delete("/privileges/{privilege_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_privilege(privilege_id: str, session: Session, shop: MerchantShop) -> Response:
    await privileges.remove(session, shop, privilege_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
