"""How a payment turned out, on the buyer's pages: the success page after paying; a payment
that failed, was closed or could not start says so by the pay button (after a redirect, so a
reload posts nothing again); a cancelled order shows its refund and when it arrives; the
receipt lists refunds and says only what is still held. Another buyer sees none of it."""

import httpx
from fastapi import FastAPI

from tests.commerce import make_buyer, one_sku_and_buyer, order_row, ordered
from tests.orders.test_store_pages import log_in
from tests.payments.money import notification, notify, sandbox_trade
from tests.payments.test_refunds import refund
from tests.support import csrf_for, csrf_from, other_client, tr


async def pay_on_pages(client: httpx.AsyncClient, number: str, button: str = "pay") -> str:
    """The buyer presses Pay on the order page, then Pay (or Fail) on the sandbox's page;
    where the way back leads."""
    page = await client.get(f"/me/orders/{number}")
    paying = await client.post(
        f"/me/orders/{number}/pay", data={"csrf_token": csrf_from(page.text)}
    )
    assert paying.status_code == 303, paying.text
    sandbox_page = paying.headers["location"]
    shown = await client.get(sandbox_page)
    pressed = await client.post(
        f"{sandbox_page}/{button}", data={"csrf_token": csrf_from(shown.text)}
    )
    assert pressed.status_code == 303
    returned = await client.get(pressed.headers["location"])
    assert returned.status_code == 303
    return str(returned.headers["location"])


def pay_problem(html: str) -> str:
    """The code of the payment message on the order page ("" when none)."""
    if 'id="pay-problem"' not in html:
        return ""
    return html.split('id="pay-problem"', 1)[1].split('data-code="', 1)[1].split('"', 1)[0]


async def test_after_paying_the_buyer_lands_on_the_success_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    assert await pay_on_pages(client, number) == f"/me/orders/{number}/paid"
    page = await client.get(f"/me/orders/{number}/paid")
    assert page.status_code == 200
    assert tr("Payment successful") in page.text
    assert "¥99.00" in page.text
    assert f'class="paid-order-number">{number}<' in page.text
    held = tr(
        "The platform holds %(amount)s for you until you confirm receipt: only then does the"
        " shop get it.",
        amount="¥99.00",
    )
    assert held in page.text
    assert f'href="/me/orders/{number}"' in page.text
    assert f'href="/s/{merchant.shop.slug}"' in page.text
    # Paid: the order page offers no pay button, and says nothing went wrong.
    order = await client.get(f"/me/orders/{number}")
    assert 'id="pay-form"' not in order.text
    assert pay_problem(order.text) == ""

    async with other_client(app) as stranger_client:
        stranger = await make_buyer(app)
        await log_in(app, stranger_client, stranger.user)
        for path in ("paid", "receipt"):
            answer = await stranger_client.get(f"/me/orders/{number}/{path}")
            assert answer.status_code == 404, path
            assert "¥99.00" not in answer.text


async def test_an_unpaid_order_has_no_success_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    answer = await client.get(f"/me/orders/{number}/paid")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/me/orders/{number}"


async def test_a_failed_payment_says_so_by_the_pay_button(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    back = await pay_on_pages(client, number, button="fail")
    assert back == f"/me/orders/{number}?pay_problem=payment_failed#pay-problem"
    page = await client.get(back)
    assert page.status_code == 200
    assert pay_problem(page.text) == "payment_failed"
    message = tr("Your payment did not go through, and nothing was charged. You can pay again.")
    assert message in page.text
    assert 'id="pay-form"' in page.text  # pay again
    # Reloaded without the code, the order page still knows from the payment itself.
    assert pay_problem((await client.get(f"/me/orders/{number}")).text) == "payment_failed"
    assert (await order_row(app, number)).status == "pending_payment"

    # Paying again works, and the message is gone.
    assert await pay_on_pages(client, number) == f"/me/orders/{number}/paid"
    assert pay_problem((await client.get(f"/me/orders/{number}")).text) == ""


async def test_a_payment_closed_at_the_provider_says_so(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    page = await client.get(f"/me/orders/{number}")
    paying = await client.post(
        f"/me/orders/{number}/pay", data={"csrf_token": csrf_from(page.text)}
    )
    out_trade_no = paying.headers["location"].rsplit("/", 1)[-1]
    trade = await sandbox_trade(app, out_trade_no)
    answer = await notify(client, *notification(app, trade, trade_state="CLOSED"))
    assert answer.status_code in (200, 204), answer.text
    shown = await client.get(f"/me/orders/{number}")
    assert pay_problem(shown.text) == "payment_closed"
    assert (
        tr("The payment was closed before it was made, and nothing was charged. You can pay again.")
        in shown.text
    )


async def test_a_payment_that_cannot_start_comes_back_to_the_order_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Refused: back to the order page (303, so a reload posts nothing), the fixed message
    its code names; a code made up shows the general message, never the text sent."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    token = await csrf_for(client, f"/me/orders/{number}")
    refused = await client.post(
        f"/me/orders/{number}/pay", data={"csrf_token": token, "provider": "nope"}
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == (
        f"/me/orders/{number}?pay_problem=provider_not_found#pay-problem"
    )
    page = await client.get(refused.headers["location"])
    assert pay_problem(page.text) == "provider_not_found"
    assert tr("This way of paying is not offered.") in page.text

    made_up = await client.get(f"/me/orders/{number}?pay_problem=%3Cb%3Ehello")
    assert made_up.status_code == 200
    assert pay_problem(made_up.text) == "payment_not_started"
    assert "hello" not in made_up.text
    assert (
        tr("The payment could not start, and nothing was charged. Please try again.")
        in made_up.text
    )


async def test_a_cancelled_order_shows_its_refund_and_when_it_arrives(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 2)])
    await log_in(app, client, buyer.user)
    await pay_on_pages(client, number)
    token = await csrf_for(client, f"/me/orders/{number}")
    cancelled = await client.post(f"/me/orders/{number}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    page = await client.get(f"/me/orders/{number}")
    assert 'id="refunds"' in page.text
    assert "¥198.00" in page.text
    assert tr("Fully refunded: %(amount)s.", amount="¥198.00") in page.text
    # The sandbox pays a refund back at once, after commit: sent, or still on its way.
    sent = "refund-row is-sent" in page.text
    assert sent or tr("Arrives in a few minutes") in page.text
    if sent:
        assert tr("Sent back on %(time)s", time="").split("%")[0] in page.text

    receipt = await client.get(f"/me/orders/{number}/receipt")
    assert "money-state is-refunded" in receipt.text
    assert "is-held" not in receipt.text


async def test_the_receipt_lists_refunds_and_holds_only_the_rest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
    await log_in(app, client, buyer.user)
    await pay_on_pages(client, number)
    assert (await refund(client, merchant, number, 3000)).status_code == 201

    partly = (await client.get(f"/me/orders/{number}/receipt")).text
    assert 'class="receipt-refunds"' in partly
    assert "¥30.00" in partly
    held = tr(
        "The platform holds %(amount)s for you until you confirm receipt: only then does the"
        " shop get it.",
        amount="¥69.00",
    )
    assert held in partly
    assert tr("%(amount)s was refunded to you.", amount="¥30.00") in partly
    assert "¥99.00 for you" not in partly

    assert (await refund(client, merchant, number, 6900)).status_code == 201
    whole = (await client.get(f"/me/orders/{number}/receipt")).text
    assert "money-state is-refunded" in whole
    assert "money-state is-held" not in whole
    assert whole.count('class="refund-row') == 2
