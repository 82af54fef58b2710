"""The buyer's address book, and the address fields checkout posts too: province, city and
district from the region picker (which works without JavaScript: its "Choose" button shows the
form again with the next list filled)."""

from typing import Annotated

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import PageUser
from pocketshop.accounts.models import User
from pocketshop.db import attempt
from pocketshop.errors import AppError
from pocketshop.orders import addresses
from pocketshop.orders.addresses import AddressInput
from pocketshop.web.routing import Session, page_router
from pocketshop.web.templating import render

router = page_router()

Text = Annotated[str, Form(max_length=200)]
Short = Annotated[str, Form(max_length=64)]


def _address_form(
    recipient: Short = "",
    phone: Short = "",
    province: Short = "",
    city: Short = "",
    district: Short = "",
    detail: Text = "",
    province_code: Short = "",
    city_code: Short = "",
    district_code: Short = "",
) -> AddressInput:
    """The address fields of a form, as checkout and the address book both post them. The
    picker sends codes; the names then come from them (`addresses.validate`)."""
    return AddressInput(
        recipient, phone, province, city, district, detail, province_code, city_code, district_code
    )


AddressForm = Annotated[AddressInput, Depends(_address_form)]


def typed_address(address: AddressInput) -> dict[str, str]:
    return {name: getattr(address, name) for name in addresses.FIELDS}


# --- the book --------------------------------------------------------------------------


async def addresses_page(
    request: Request,
    session: AsyncSession,
    user: User,
    *,
    editing: str = "",
    error: AppError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    book = await addresses.list_for(session, user)
    current = next((address for address in book if address.public_id == editing), None)
    typed = form or (typed_address(addresses.as_input(current)) if current else {})
    return render(
        request,
        "orders/store_addresses.html",
        {
            "addresses": book,
            "editing": current,
            "form": typed,
        },
        error=error,
    )


@router.get("/me/addresses")
async def my_addresses(
    request: Request,
    session: Session,
    user: PageUser,
    edit: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    return await addresses_page(request, session, user, editing=edit)


@router.post("/me/addresses")
async def save_address(
    request: Request,
    session: Session,
    user: PageUser,
    typed: AddressForm,
    address_id: Short = "",
    make_default: Short = "",
    pick: Short = "",
) -> Response:
    """Add an address, or with `address_id` change one. `pick` (the region picker's button,
    without JavaScript) shows the form again with the next list filled, saving nothing."""
    if pick:
        return await addresses_page(
            request, session, user, editing=address_id, form=typed_address(typed)
        )
    try:
        async with attempt(session):
            if address_id:
                await addresses.edit(
                    session, user, address_id, typed, make_default=bool(make_default)
                )
            else:
                await addresses.create(session, user, typed, make_default=bool(make_default))
    except AppError as error:
        return await addresses_page(
            request, session, user, editing=address_id, error=error, form=typed_address(typed)
        )
    return RedirectResponse("/me/addresses", status_code=303)


@router.post("/me/addresses/{address_id}/default")
async def make_default_address(address_id: str, session: Session, user: PageUser) -> Response:
    address = await addresses.get_or_404(session, user, address_id)
    await addresses.edit(session, user, address_id, addresses.as_input(address), make_default=True)
    return RedirectResponse("/me/addresses", status_code=303)


@router.post("/me/addresses/{address_id}/delete")
async def delete_address(address_id: str, session: Session, user: PageUser) -> Response:
    await addresses.remove(session, user, address_id)
    return RedirectResponse("/me/addresses", status_code=303)
