"""The sandbox provider's hosted pay page: it is the provider's, not the shop's (a real
provider serves its own). Pay or Fail settles the trade in the sandbox's books; its
notification to our callback leaves right after the answer, and again on WeChat Pay's
schedule until it is answered."""

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pocketshop.errors import NotFound
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.payments import sandbox
from pocketshop.web.routing import Session, page_router, run_after
from pocketshop.web.templating import render

router = page_router(prefix="/sandbox")

STATE_TEXTS = {
    "SUCCESS": N_("Paid. The shop is told in a moment."),
    "PAYERROR": N_("The payment failed. Nothing was charged."),
    "CLOSED": N_("This payment was closed: the order no longer waits for it."),
}


def _not_found() -> NotFound:
    return NotFound(_("No such sandbox payment."), code="sandbox_trade_not_found")


@router.get("/pay/{out_trade_no}")
async def pay_page(out_trade_no: str, request: Request, session: Session) -> HTMLResponse:
    transaction = await sandbox.find(session, out_trade_no)
    if transaction is None:
        raise _not_found()
    text = STATE_TEXTS.get(transaction.state)
    return render(
        request,
        "payments/sandbox_pay.html",
        {
            "transaction": transaction,
            "merchant": sandbox.MERCHANT,
            "state_text": _(text) if text else "",
            "fen": format_fen,
        },
    )


async def _act(out_trade_no: str, request: Request, session: Session, *, pay: bool) -> Response:
    transaction = await sandbox.buyer_acts(session, out_trade_no, pay=pay)
    if transaction is None:
        raise _not_found()
    response = RedirectResponse(transaction.return_url, status_code=303)
    # The provider's notification, right after this answer (the jobs retry it if it fails).
    run_after(response, request.app.state.runtime.deliver_sandbox_notices)
    return response


@router.post("/pay/{out_trade_no}/pay")
async def pay(out_trade_no: str, request: Request, session: Session) -> Response:
    return await _act(out_trade_no, request, session, pay=True)


@router.post("/pay/{out_trade_no}/fail")
async def fail(out_trade_no: str, request: Request, session: Session) -> Response:
    return await _act(out_trade_no, request, session, pay=False)
