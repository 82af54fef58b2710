from typing import Annotated

from fastapi import Query, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import regions, spreadsheets
from pocketshop.accounts.deps import ApiUser
from pocketshop.accounts.models import User
from pocketshop.errors import InvalidInput
from pocketshop.guessing.deps import LimitMisses
from pocketshop.i18n import _
from pocketshop.orders import (
    actions,
    addresses,
    cart,
    checkout,
    export,
    queries,
    service,
    shipping,
    shipping_fees,
)
from pocketshop.orders.checkout import CreatedOrder, LineRequest
from pocketshop.orders.models import Address, Order, OrderLine
from pocketshop.orders.schemas import (
    AddressBookIn,
    AddressOut,
    CarrierOut,
    CartItemIn,
    CartLineOut,
    CartOut,
    OrderEventOut,
    OrderIn,
    OrderLineOut,
    OrderListOut,
    OrderOut,
    RegionFeeOut,
    RegionOut,
    ShipmentIn,
    ShipmentOut,
    ShippingRegionsIn,
    ShippingRuleIn,
    ShippingRuleOut,
)
from pocketshop.orders.service import OrderSource, OrderStatus
from pocketshop.shops import service as shops
from pocketshop.shops.deps import MerchantShop
from pocketshop.shops.models import Shop
from pocketshop.web import contract
from pocketshop.web.routing import AppSettings, IdempotencyKey, Session, api_router

router = api_router(prefix="/api/v1", tags=["orders"])

Page = Annotated[int, Query(ge=1, le=10_000)]
ORDER_NUMBER = {"number": "$response.body#/number"}


def address_out(address: Address) -> AddressOut:
    return AddressOut(
        id=address.public_id,
        recipient=address.recipient,
        phone=address.phone,
        province=address.province,
        city=address.city,
        district=address.district,
        province_code=address.province_code,
        city_code=address.city_code,
        district_code=address.district_code,
        detail=address.detail,
        is_default=address.is_default,
    )


async def order_out(
    session: AsyncSession,
    order: Order,
    shop_slug: str,
    *,
    lines: list[OrderLineOut] | None = None,
    detail: bool = True,
    new: CreatedOrder | None = None,
) -> OrderOut:
    """`new`: an order just created, whose lines and event are at hand (nothing shipped)."""
    if lines is None:
        rows = new.lines if new else await service.lines_of(session, order)
        lines = [_line_out(line) for line in rows]
    events = shipments = None
    if detail:
        events = [
            OrderEventOut(
                from_status=event.from_status,
                to_status=event.to_status,
                actor=event.actor,
                reason=event.reason,
                at=event.created_at,
            )
            for event in (new.events if new else await service.events_of(session, order))
        ]
        shipments = [
            ShipmentOut(
                id=view.shipment.public_id,
                carrier=view.shipment.carrier,
                carrier_name=shipping.carrier_name(view.shipment.carrier),
                tracking_number=view.shipment.tracking_number,
                lines=[
                    {"line_id": line.public_id, "quantity": quantity}
                    for line, quantity in view.lines
                ],
                shipped_at=view.shipment.created_at,
            )
            for view in ([] if new else await shipping.shipments_of(session, order))
        ]
    return OrderOut(
        number=order.number,
        shop=shop_slug,
        status=OrderStatus(order.status),
        status_label=service.label_of(order),
        currency=order.currency,
        items_total=order.items_total,
        shipping_fee=order.shipping_fee,
        total=order.total,
        lines=lines,
        recipient=order.recipient,
        phone=order.phone,
        address=addresses.one_line(order),
        province_code=order.province_code,
        city_code=order.city_code,
        district_code=order.district_code,
        note=order.note,
        created_at=order.created_at,
        pay_by=order.pay_by,
        paid_at=order.paid_at,
        shipped_at=order.shipped_at,
        auto_confirm_at=order.auto_confirm_at,
        completed_at=order.completed_at,
        closed_at=order.closed_at,
        close_reason=order.close_reason,
        source=OrderSource(order.source),
        referral=order.referral_kind,
        aftersales_open=order.aftersales_open,
        events=events,
        shipments=shipments,
    )


def _line_out(line: OrderLine) -> OrderLineOut:
    return OrderLineOut(
        id=line.public_id,
        title=line.title,
        spec=line.spec_text,
        unit_price=line.unit_price,
        regular_price=line.regular_price,
        quantity=line.quantity,
        line_total=line.line_total,
        shipped_quantity=line.shipped_quantity,
    )


async def order_list_out(session: AsyncSession, found: queries.OrderPage) -> OrderListOut:
    """A page of orders in three queries, however many orders and lines it holds."""
    lines = await service.lines_by_order(session, found.orders)
    by_id = await shops.by_ids(session, {order.shop_id for order in found.orders})
    return OrderListOut(
        items=[
            await order_out(
                session,
                order,
                by_id[order.shop_id].slug,
                lines=[_line_out(line) for line in lines[order.id]],
                detail=False,
            )
            for order in found.orders
        ],
        page=found.page,
        has_next=found.has_next,
    )


# --- addresses --------------------------------------------------------------------------------


@router.get("/me/addresses")
async def list_addresses(session: Session, user: ApiUser) -> list[AddressOut]:
    return [address_out(address) for address in await addresses.list_for(session, user)]


@router.post("/me/addresses", status_code=status.HTTP_201_CREATED)
async def create_address(body: AddressBookIn, session: Session, user: ApiUser) -> AddressOut:
    address = await addresses.create(session, user, body.as_input(), make_default=body.is_default)
    return address_out(address)


@router.put("/me/addresses/{address_id}")
async def edit_address(
    address_id: str, body: AddressBookIn, session: Session, user: ApiUser
) -> AddressOut:
    address = await addresses.edit(
        session, user, address_id, body.as_input(), make_default=body.is_default
    )
    return address_out(address)


@router.delete("/me/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_address(address_id: str, session: Session, user: ApiUser) -> Response:
    await addresses.remove(session, user, address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- cart -------------------------------------------------------------------------------------


async def cart_out(session: AsyncSession, user: User, shop: Shop) -> CartOut:
    priced = await cart.view(
        session, shop, await cart.quantities_of(session, user, shop), buyer=user
    )
    return CartOut(
        lines=[
            CartLineOut(
                sku_id=line.sku_id,
                product_id=line.product_id,
                title=line.title,
                spec=line.spec,
                unit_price=line.unit_price,
                regular_price=line.regular_price,
                quantity=line.quantity,
                line_total=line.line_total,
                available=line.available,
            )
            for line in priced.lines
        ],
        items_total=priced.items_total,
        shipping_fee=priced.shipping_fee,
        total=priced.total,
    )


@router.get("/shops/{slug}/cart")
async def get_cart(slug: str, session: Session, user: ApiUser) -> CartOut:
    shop = await shops.get_by_slug_or_404(session, slug)
    return await cart_out(session, user, shop)


@router.put("/shops/{slug}/cart/items/{sku_id}")
async def set_cart_item(
    slug: str, sku_id: str, body: CartItemIn, session: Session, user: ApiUser
) -> CartOut:
    """Set the quantity of a SKU in your cart of this shop; 0 removes it."""
    shop = await shops.get_by_slug_or_404(session, slug)
    await cart.set_quantity(session, user, shop, sku_id, body.quantity)
    return await cart_out(session, user, shop)


@router.delete("/shops/{slug}/cart/items/{sku_id}")
async def remove_cart_item(slug: str, sku_id: str, session: Session, user: ApiUser) -> CartOut:
    shop = await shops.get_by_slug_or_404(session, slug)
    await cart.remove(session, user, shop, sku_id)
    return await cart_out(session, user, shop)


# --- the buyer's orders -----------------------------------------------------------------------


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=contract.links(
        201,
        PayOrder=("pay_order_api_v1_orders__number__payments_post", ORDER_NUMBER),
        GetOrder=("get_my_order_api_v1_orders__number__get", ORDER_NUMBER),
        CancelOrder=("cancel_my_order_api_v1_orders__number__cancel_post", ORDER_NUMBER),
        ShopOrder=("get_shop_order_api_v1_me_shop_orders__number__get", ORDER_NUMBER),
    ),
)
async def create_order(
    body: OrderIn,
    response: Response,
    session: Session,
    settings: AppSettings,
    user: ApiUser,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Place an order awaiting payment; stock is reserved until it is paid or closed."""
    shop = await shops.get_by_slug_or_404(session, body.shop)
    from_cart = body.lines is None
    # The whole cart: a line that sold out or left the shelf is refused by name (409), not
    # silently left behind.
    chosen = await cart.quantities_of(session, user, shop) if from_cart else {}
    lines = (
        [LineRequest(sku_id, quantity) for sku_id, quantity in chosen.items()]
        if from_cart
        else [LineRequest(line.sku_id, line.quantity) for line in body.lines or []]
    )
    created = await checkout.create(
        session,
        settings,
        user,
        shop,
        lines=lines,
        address=body.address.as_input() if body.address else None,
        address_id=body.address_id,
        note=body.note,
        idempotency_key=idempotency_key,
        from_cart=from_cart,
    )
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        return await order_out(session, created.order, shop.slug)
    return await order_out(session, created.order, shop.slug, new=created)


@router.get("/orders")
async def list_my_orders(session: Session, user: ApiUser, page: Page = 1) -> OrderListOut:
    return await order_list_out(session, await queries.list_for_buyer(session, user, page=page))


async def _buyer_order_out(session: AsyncSession, order: Order) -> OrderOut:
    shop = await session.get_one(Shop, order.shop_id)
    return await order_out(session, order, shop.slug)


@router.get("/orders/{number}", dependencies=[LimitMisses])
async def get_my_order(number: str, session: Session, user: ApiUser) -> OrderOut:
    order = await service.get_for_buyer_or_404(session, user, number)
    return await _buyer_order_out(session, order)


@router.post("/orders/{number}/cancel", dependencies=[LimitMisses])
async def cancel_my_order(
    number: str, session: Session, settings: AppSettings, user: ApiUser
) -> OrderOut:
    """Cancel an order before it ships: its stock goes back on sale, and a paid one is
    refunded in full."""
    order = await actions.cancel_by_buyer(session, settings, user, number)
    return await _buyer_order_out(session, order)


@router.post("/orders/{number}/confirm-receipt", dependencies=[LimitMisses])
async def confirm_receipt(
    number: str, session: Session, settings: AppSettings, user: ApiUser
) -> OrderOut:
    """The goods arrived: the order completes and its money goes to the shop."""
    order = await actions.confirm_receipt(session, settings, user, number)
    return await _buyer_order_out(session, order)


# --- the merchant's orders --------------------------------------------------------------------

StatusFilter = Annotated[OrderStatus | None, Query(alias="status")]
SearchText = Annotated[str, Query(max_length=40, description="order number, phone or name")]


@router.get("/me/shop/orders")
async def list_shop_orders(
    session: Session,
    shop: MerchantShop,
    status_filter: StatusFilter = None,
    q: SearchText = "",
    page: Page = 1,
) -> OrderListOut:
    found = await queries.list_for_shop(session, shop, status=status_filter, query=q, page=page)
    return await order_list_out(session, found)


@router.get(
    "/me/shop/orders.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_shop_orders(
    session: Session, shop: MerchantShop, status_filter: StatusFilter = None, q: SearchText = ""
) -> Response:
    """The shop's orders as CSV (one row per line), with the same filters as the list."""
    return await export.csv_response(session, shop, status=status_filter, query=q)


@router.get(
    "/me/shop/orders.xlsx",
    response_class=Response,
    responses={200: {"content": {spreadsheets.XLSX_MEDIA_TYPE: {}}}},
)
async def export_shop_orders_xlsx(
    session: Session, shop: MerchantShop, status_filter: StatusFilter = None, q: SearchText = ""
) -> Response:
    """The shop's orders as an Excel workbook (one row per line), with the same filters as the
    list: order numbers and phones as text, amounts as numbers in yuan, times in the shop's
    time zone."""
    return await export.xlsx_response(session, shop, status=status_filter, query=q)


@router.get("/me/shop/orders/{number}", dependencies=[LimitMisses])
async def get_shop_order(number: str, session: Session, shop: MerchantShop) -> OrderOut:
    order = await service.get_for_shop_or_404(session, shop, number)
    return await order_out(session, order, shop.slug)


@router.post("/me/shop/orders/{number}/cancel", dependencies=[LimitMisses])
async def cancel_shop_order(
    number: str, session: Session, settings: AppSettings, shop: MerchantShop
) -> OrderOut:
    """Close an order before it ships: unpaid, or paid (refunded in full)."""
    order = await actions.cancel_by_merchant(session, settings, shop, number, user_id=shop.owner_id)
    return await order_out(session, order, shop.slug)


@router.post(
    "/me/shop/orders/{number}/shipments",
    dependencies=[LimitMisses],
    status_code=status.HTTP_201_CREATED,
)
async def ship_order(
    number: str, body: ShipmentIn, session: Session, settings: AppSettings, shop: MerchantShop
) -> OrderOut:
    """Send a package: everything left, or the given lines and quantities."""
    await shipping.ship(
        session,
        settings,
        shop,
        number,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        lines=[shipping.ShipLine(line.line_id, line.quantity) for line in body.lines]
        if body.lines
        else None,
        user_id=shop.owner_id,
    )
    order = await service.get_for_shop_or_404(session, shop, number)
    return await order_out(session, order, shop.slug)


@router.get("/carriers")
async def list_carriers() -> list[CarrierOut]:
    return [CarrierOut(code=code, name=name) for code, name in shipping.carriers()]


def rule_out(rule: shipping_fees.Terms) -> ShippingRuleOut:
    return ShippingRuleOut(
        kind=shipping_fees.RuleKind(rule.kind),
        fee=rule.fee,
        free_above=rule.free_above,
        description=shipping_fees.describe(rule),
        extra=[
            RegionFeeOut(province_code=code, province=regions.name_of(code) or code, fee=fen)
            for code, fen in rule.extra
        ],
        no_delivery=[
            RegionOut(code=code, name=regions.name_of(code) or code) for code in rule.no_delivery
        ],
    )


@router.get("/me/shop/shipping-rule")
async def get_shipping_rule(session: Session, shop: MerchantShop) -> ShippingRuleOut:
    return rule_out(await shipping_fees.rule_for(session, shop))


@router.put("/me/shop/shipping-rule")
async def set_shipping_rule(
    body: ShippingRuleIn, session: Session, shop: MerchantShop
) -> ShippingRuleOut:
    rule = await shipping_fees.set_rule(
        session, shop, kind=body.kind, fee=body.fee, free_above=body.free_above
    )
    return rule_out(rule)


@router.put("/me/shop/shipping-regions")
async def set_shipping_regions(
    body: ShippingRegionsIn, session: Session, shop: MerchantShop
) -> ShippingRuleOut:
    """Provinces that pay an extra fee and provinces the shop does not deliver to; checkout
    applies them by the delivery address's province."""
    if len({item.province_code for item in body.extra}) != len(body.extra):
        raise InvalidInput(
            _("Each province can have one extra fee."), code="invalid_region", field="extra"
        )
    rule = await shipping_fees.set_regions(
        session,
        shop,
        extra={item.province_code: item.fee for item in body.extra},
        no_delivery=body.no_delivery,
    )
    return rule_out(rule)
