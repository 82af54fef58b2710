"""The platform's operators see the viral loop: which shops' "open your own shop too" brought
new shops, and how many."""

from fastapi import Request
from fastapi.responses import Response

from pocketshop.accounts.deps import OperatorUser
from pocketshop.shops import service
from pocketshop.web.routing import Session, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/admin")


@router.get("/invitations")
async def invitations(request: Request, session: Session, user: OperatorUser) -> Response:
    rows = await service.invitations(session)
    return render(
        request,
        "shops/admin_invitations.html",
        {"rows": rows, "total": sum(count for _shop, count in rows)},
    )
