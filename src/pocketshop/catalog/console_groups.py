"""Console: the shop's product groups (create, rename, delete, reorder)."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.catalog import groups
from pocketshop.catalog.console_pages import notice_of
from pocketshop.db import attempt
from pocketshop.errors import AppError
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web.console import nav_context, redirect_done
from pocketshop.web.routing import Session, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/console")
GroupName = Annotated[str, Form(max_length=200)]


async def groups_page(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    *,
    error: AppError | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    shelves = await groups.list_groups(session, shop)
    ids = [group.public_id for group in shelves]
    rows = []
    for index, group in enumerate(shelves):
        up = down = None
        if index > 0:
            order = ids.copy()
            order[index - 1], order[index] = order[index], order[index - 1]
            up = ",".join(order)
        if index < len(ids) - 1:
            order = ids.copy()
            order[index + 1], order[index] = order[index], order[index + 1]
            down = ",".join(order)
        rows.append({"group": group, "up": up, "down": down})
    return render(
        request,
        "catalog/console_groups.html",
        {
            **await nav_context(session, shop, "products"),
            "rows": rows,
            "typed": typed or {},
            "name_max": groups.GROUP_NAME_MAX,
            "notice": None if error else notice_of(request),
        },
        error=error,
    )


async def _save(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    change: Callable[[], Awaitable[object]],
    typed: dict[str, str],
) -> Response:
    """Make one change to the groups; a refused one shows the page again with what was typed."""
    try:
        async with attempt(session):
            await change()
    except AppError as error:
        return await groups_page(request, session, shop, error=error, typed=typed)
    return redirect_done("/console/groups", "group_saved")


@router.get("/groups")
async def groups_list(request: Request, session: Session, shop: ConsoleShop) -> Response:
    return await groups_page(request, session, shop)


@router.post("/groups")
async def create_group(
    request: Request,
    session: Session,
    shop: ConsoleShop,
    name: GroupName = "",
) -> Response:
    return await _save(
        request, session, shop, lambda: groups.create_group(session, shop, name), {"new": name}
    )


@router.post("/groups/order")
async def reorder_groups(
    session: Session,
    shop: ConsoleShop,
    order: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    await groups.reorder_groups(session, shop, [part for part in order.split(",") if part])
    return redirect_done("/console/groups", "group_saved")


@router.post("/groups/{group_id}")
async def rename_group(
    group_id: str,
    request: Request,
    session: Session,
    shop: ConsoleShop,
    name: GroupName = "",
) -> Response:
    return await _save(
        request,
        session,
        shop,
        lambda: groups.rename_group(session, shop, group_id, name),
        {group_id: name},
    )


@router.post("/groups/{group_id}/delete")
async def delete_group(group_id: str, session: Session, shop: ConsoleShop) -> Response:
    await groups.delete_group(session, shop, group_id)
    return redirect_done("/console/groups", "group_saved")
