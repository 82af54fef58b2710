"""After-sales through the HTML pages, as a phone without JavaScript uses them: the buyer
applies on the form (with a photo), follows the case and answers; the shop answers in the
console; an operator decides a dispute on /admin/disputes. Refused forms show the message
next to their field and change nothing; nobody reaches a case that is not theirs."""

import re

import httpx
from fastapi import FastAPI

from pocketshop.aftersales.states import STATUS_LABELS, Status
from tests.aftersales.cases import RETURN_ADDRESS, case_counts, line_ids, make_operator
from tests.commerce import Buyer, Merchant, make_buyer, make_merchant, one_sku_and_buyer, web_login
from tests.payments.money import received
from tests.support import csrf_for, image_bytes, media_files, other_client, page_alert, tr

CASE_URL = re.compile(r"/me/aftersales/([0-9a-f]{32})$")
SF = "SF1234567890999"


def label(status: Status) -> str:
    return tr(STATUS_LABELS[status])


async def received_order(app: FastAPI, client: httpx.AsyncClient) -> tuple[Merchant, Buyer, str]:
    """Two units bought, shipped and received; the buyer logged in on `client`."""
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 2)
    await web_login(app, client, buyer.user)
    return merchant, buyer, number


async def apply_on_form(
    client: httpx.AsyncClient,
    number: str,
    line: str,
    *,
    photos: tuple[bytes, ...] = (),
    **fields: str,
) -> httpx.Response:
    """The application form as the buyer sends it (multipart, with photos)."""
    token = await csrf_for(client, "/me/aftersales")
    data = {
        "csrf_token": token,
        "line": line,
        "kind": "return_refund",
        "quantity": "1",
        "reason": "damaged",
        "amount": "",
        "description": "屏幕有划痕",
    } | fields
    files = [("photos", (f"p{i}.png", photo, "image/png")) for i, photo in enumerate(photos)]
    return await client.post(f"/me/orders/{number}/aftersales", data=data, files=files or None)


async def applied(
    client: httpx.AsyncClient,
    number: str,
    line: str,
    *,
    photos: tuple[bytes, ...] = (),
    **fields: str,
) -> str:
    """A case made through the form; its id."""
    made = await apply_on_form(client, number, line, photos=photos, **fields)
    assert made.status_code == 303, made.text
    found = CASE_URL.search(made.headers["location"])
    assert found, made.headers["location"]
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, **fields: str
) -> httpx.Response:
    """A form of `page` posted to `action`, with the page's CSRF token."""
    token = await csrf_for(client, page)
    return await client.post(action, data={"csrf_token": token} | fields)


async def buyer_step(
    client: httpx.AsyncClient, case_id: str, step: str, **fields: str
) -> httpx.Response:
    return await post_form(client, "/me/aftersales", f"/me/aftersales/{case_id}/{step}", **fields)


async def shop_step(
    client: httpx.AsyncClient, case_id: str, step: str, **fields: str
) -> httpx.Response:
    return await post_form(
        client, "/console/aftersales", f"/console/aftersales/{case_id}/{step}", **fields
    )


def moved(response: httpx.Response, to: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(to), response.headers["location"]


def alert_follows(html: str, field: str) -> bool:
    """Whether the page's error message comes right after the control named `field` (and
    the control is marked invalid)."""
    control = rf'<(?:input|select|textarea)[^>]*name="{field}"[^>]*aria-invalid="true"'
    after = r'(?:(?!<(?:input|select|textarea)\b).)*?<p class="alert" id="form-error" role="alert"'
    return re.search(control + r"[^>]*>" + after, html, re.S) is not None


# --- the buyer applies, the shop takes the goods back ----------------------------------------


async def test_return_through_the_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, buyer, number = await received_order(app, client)
    (line,) = await line_ids(client, buyer, number)

    # The order page offers the application for its line.
    order_page = await client.get(f"/me/orders/{number}")
    form_url = f"/me/orders/{number}/aftersales/new?line={line}"
    assert f'href="{form_url}"' in order_page.text
    form = await client.get(form_url)
    assert form.status_code == 200
    assert set(re.findall(r'name="kind" value="(\w+)"', form.text)) == {
        "refund_only",
        "return_refund",
        "exchange",
    }
    assert 'type="file" name="photos" accept="image/*" multiple' in form.text
    assert 'placeholder="198.00"' in form.text  # what both units are worth

    case_id = await applied(client, number, line, photos=(image_bytes(),))
    page = await client.get(f"/me/aftersales/{case_id}")
    assert page.status_code == 200
    assert label(Status.requested) in page.text
    assert "¥99.00" in page.text
    assert "屏幕有划痕" in page.text
    assert len(re.findall(r'<img src="/media/aftersales/thumbs/[^"]+"', page.text)) == 1
    assert 'action="/me/aftersales/' + case_id + '/withdraw"' in page.text
    assert f'href="/me/orders/{number}"' in page.text
    # The order page now leads to the case instead of a second application.
    order_page = await client.get(f"/me/orders/{number}")
    assert f'href="/me/aftersales/{case_id}"' in order_page.text
    assert f'href="{form_url}"' not in order_page.text
    mine = await client.get("/me/aftersales")
    assert f'href="/me/aftersales/{case_id}"' in mine.text

    async with other_client(app) as shop:
        await web_login(app, shop, merchant.user)
        listed = await shop.get("/console/aftersales")
        assert f'href="/console/aftersales/{case_id}"' in listed.text
        assert re.search(r'data-aftersales title="[^"]*">1<', listed.text), "the nav's badge"
        detail = await shop.get(f"/console/aftersales/{case_id}")
        assert 'name="return_address"' in detail.text
        assert f'action="/console/aftersales/{case_id}/receive' not in detail.text
        # Agreeing to a return needs the address the goods go back to.
        refused = await shop_step(shop, case_id, "agree", return_address="  ")
        assert refused.status_code == 422
        assert page_alert(refused.text)[0] == "return_address_required"
        assert alert_follows(refused.text, "return_address")
        moved(
            await shop_step(shop, case_id, "agree", return_address=RETURN_ADDRESS),
            f"/console/aftersales/{case_id}?done=agree",
        )

    # The buyer sends the goods back with a courier; a bad tracking number is refused.
    page = await client.get(f"/me/aftersales/{case_id}")
    assert label(Status.awaiting_return) in page.text
    assert RETURN_ADDRESS in page.text
    bad = await buyer_step(client, case_id, "ship", carrier="SF", tracking_number="12")
    assert bad.status_code == 422
    assert page_alert(bad.text)[0] == "invalid_tracking_number"
    assert alert_follows(bad.text, "tracking_number")
    moved(
        await buyer_step(client, case_id, "ship", carrier="SF", tracking_number=SF),
        f"/me/aftersales/{case_id}",
    )

    async with other_client(app) as shop:
        await web_login(app, shop, merchant.user)
        detail = await shop.get(f"/console/aftersales/{case_id}")
        assert SF in detail.text
        assert re.search(
            rf'action="/console/aftersales/{case_id}/receive#receive"[^>]*data-confirm', detail.text
        )
        moved(await shop_step(shop, case_id, "receive"), f"/console/aftersales/{case_id}")
        detail = await shop.get(f"/console/aftersales/{case_id}?done=receive")
        assert label(Status.refunded) in detail.text
        assert 'class="notice"' in detail.text
        order = await shop.get(f"/console/orders/{number}")
        assert f'href="/console/aftersales/{case_id}"' in order.text
        assert label(Status.refunded) in order.text

    page = await client.get(f"/me/aftersales/{case_id}")
    assert label(Status.refunded) in page.text
    assert 'action="/me/aftersales/' + case_id + '/withdraw"' not in page.text
    # The timeline: applied, agreed, sent back, refunded — oldest first.
    steps = re.findall(r"<li>\s*<strong>([^<]+)</strong>", page.text)
    assert steps[-3:] == [
        label(Status.awaiting_return),
        label(Status.returning),
        label(Status.refunded),
    ]


async def test_a_refused_application_shows_its_error_and_keeps_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _merchant, buyer, number = await received_order(app, client)
    (line,) = await line_ids(client, buyer, number)
    before = await case_counts(app)

    too_many = await apply_on_form(
        client, number, line, quantity="5", description="买多了", photos=(image_bytes(),)
    )
    assert too_many.status_code == 409
    assert page_alert(too_many.text) == (
        "quantity_too_large",
        tr("At most %(n)s can be returned of this item.", n=2),
    )
    assert alert_follows(too_many.text, "quantity")
    assert "买多了" in too_many.text  # what was typed is kept
    assert 'value="return_refund" required checked' in too_many.text

    not_a_number = await apply_on_form(client, number, line, quantity="two")
    assert not_a_number.status_code == 422
    assert page_alert(not_a_number.text)[0] == "invalid_number"
    assert alert_follows(not_a_number.text, "quantity")

    too_much = await apply_on_form(client, number, line, kind="refund_only", amount="500")
    assert too_much.status_code == 409
    assert page_alert(too_much.text)[0] == "refund_too_large"
    assert alert_follows(too_much.text, "amount")

    no_kind = await apply_on_form(client, number, line, kind="")
    assert no_kind.status_code == 422
    assert alert_follows(no_kind.text, "kind")

    not_a_photo = await apply_on_form(client, number, line, photos=(b"not an image",))
    assert not_a_photo.status_code == 422
    assert page_alert(not_a_photo.text)[0] == "invalid_image"

    assert await case_counts(app) == before
    assert [path for path in media_files(app.state.settings) if "aftersales" in str(path)] == []


# --- the shop refuses, the buyer escalates, the platform decides ----------------------------


async def test_refusal_escalation_and_the_operators_decision(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, number = await received_order(app, client)
    (line,) = await line_ids(client, buyer, number)
    case_id = await applied(client, number, line, kind="refund_only", amount="50")

    async with other_client(app) as shop:
        await web_login(app, shop, merchant.user)
        detail = await shop.get(f"/console/aftersales/{case_id}")
        # Agreeing to a refund only sends money: the form asks first.
        assert re.search(
            rf'action="/console/aftersales/{case_id}/agree#agree"[^>]*data-confirm', detail.text
        )
        unsaid = await shop_step(shop, case_id, "refuse", reason=" ")
        assert unsaid.status_code == 422
        assert page_alert(unsaid.text)[0] == "refusal_reason_required"
        assert alert_follows(unsaid.text, "reason")
        moved(await shop_step(shop, case_id, "refuse", reason="商品完好，不支持退款"), "/console")

    page = await client.get(f"/me/aftersales/{case_id}")
    assert label(Status.refused) in page.text
    assert "商品完好，不支持退款" in page.text
    moved(
        await buyer_step(client, case_id, "escalate", note="划痕照片已上传"),
        f"/me/aftersales/{case_id}",
    )
    assert label(Status.escalated) in (await client.get(f"/me/aftersales/{case_id}")).text

    # A buyer is no operator: 403 on the disputes.
    assert (await client.get("/admin/disputes")).status_code == 403
    assert (await client.get(f"/admin/disputes/{case_id}")).status_code == 403
    forbidden = await post_form(
        client, "/me/aftersales", f"/admin/disputes/{case_id}", decision="refund", note="x"
    )
    assert forbidden.status_code == 403

    operator = await make_operator(app)
    async with other_client(app) as admin:
        await web_login(app, admin, operator)
        queue = await admin.get("/admin/disputes")
        assert queue.status_code == 200
        assert f'href="/admin/disputes/{case_id}"' in queue.text
        assert merchant.shop.name in queue.text  # the platform's list spans shops
        dispute = await admin.get(f"/admin/disputes/{case_id}")
        assert "商品完好，不支持退款" in dispute.text  # the shop's side
        assert "屏幕有划痕" in dispute.text  # the buyer's
        url = f"/admin/disputes/{case_id}"
        ungrounded = await post_form(admin, url, url, decision="refund", note="")
        assert ungrounded.status_code == 422
        assert page_alert(ungrounded.text)[0] == "note_required"
        assert alert_follows(ungrounded.text, "note")
        undecided = await post_form(admin, url, url, decision="maybe", note="看过照片")
        assert alert_follows(undecided.text, "decision")
        moved(await post_form(admin, url, url, decision="refund", note="照片显示划痕"), url)
        assert label(Status.refunded) in (await admin.get(url)).text
        queue = await admin.get("/admin/disputes")
        assert queue.text.count(f'href="/admin/disputes/{case_id}"') == 1  # now among decided

    page = await client.get(f"/me/aftersales/{case_id}")
    assert label(Status.refunded) in page.text
    assert "照片显示划痕" in page.text
    assert "¥50.00" in page.text


# --- an offer, a withdrawal, unknown steps --------------------------------------------------


async def test_an_offer_accepted_and_an_application_withdrawn(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, number = await received_order(app, client)
    (line,) = await line_ids(client, buyer, number)
    case_id = await applied(client, number, line, kind="refund_only")

    async with other_client(app) as shop:
        await web_login(app, shop, merchant.user)
        wrong = await shop_step(shop, case_id, "propose", amount="12.345")
        assert wrong.status_code == 422
        assert page_alert(wrong.text) == (
            "invalid_amount",
            tr("Enter an amount in yuan, like 12.50."),
        )
        assert alert_follows(wrong.text, "amount")
        moved(
            await shop_step(shop, case_id, "propose", amount="12.50", note="给您部分退款"),
            "/console",
        )
        assert (await shop_step(shop, case_id, "nonsense")).status_code == 404

    page = await client.get(f"/me/aftersales/{case_id}")
    assert label(Status.proposed) in page.text
    assert "¥12.50" in page.text
    assert (await buyer_step(client, case_id, "nonsense")).status_code == 404
    moved(await buyer_step(client, case_id, "accept"), f"/me/aftersales/{case_id}")
    page = await client.get(f"/me/aftersales/{case_id}")
    assert label(Status.refunded) in page.text
    # An accepted offer cannot be accepted twice: the page says why, and nothing moves.
    again = await buyer_step(client, case_id, "accept")
    assert again.status_code == 409
    assert page_alert(again.text)[0] == "invalid_transition"

    # Another application on what is left of the line, then withdrawn (the form asks first).
    second = await applied(client, number, line, kind="refund_only", quantity="1")
    page = await client.get(f"/me/aftersales/{second}")
    assert re.search(rf'action="/me/aftersales/{second}/withdraw"[^>]*data-confirm', page.text)
    moved(await buyer_step(client, second, "withdraw"), f"/me/aftersales/{second}")
    assert label(Status.closed) in (await client.get(f"/me/aftersales/{second}")).text


# --- nobody reaches a case that is not theirs ----------------------------------------------------


async def test_other_buyers_and_shops_get_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, buyer, number = await received_order(app, client)
    (line,) = await line_ids(client, buyer, number)
    case_id = await applied(client, number, line)

    stranger = await make_buyer(app)
    async with other_client(app) as other:
        await web_login(app, other, stranger.user)
        assert (await other.get(f"/me/aftersales/{case_id}")).status_code == 404
        assert (await buyer_step(other, case_id, "withdraw")).status_code == 404
        assert (
            await other.get(f"/me/orders/{number}/aftersales/new?line={line}")
        ).status_code == 404
        # Anyone's photos first need their own order: refused before any is decoded.
        taken = await apply_on_form(other, number, line)
        assert taken.status_code == 404

    rival = await make_merchant(app, "隔壁的店")
    async with other_client(app) as other:
        await web_login(app, other, rival.user)
        assert (await other.get(f"/console/aftersales/{case_id}")).status_code == 404
        refused = await shop_step(other, case_id, "refuse", reason="不行")
        assert refused.status_code == 404
        assert f"/console/aftersales/{case_id}" not in (await other.get("/console/aftersales")).text

    assert label(Status.requested) in (await client.get(f"/me/aftersales/{case_id}")).text
    assert merchant.shop.id != rival.shop.id
