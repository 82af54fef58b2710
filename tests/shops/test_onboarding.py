"""Opening a shop with bad input: identity, bank card and shop steps through the service, the
JSON API and the HTML pages. Each refusal is checked for its error and for leaving nothing
behind (no row, no media file)."""

import io
import threading
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from pocketshop import clock
from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.errors import AppError, Conflict, InvalidInput
from pocketshop.shops import logos, service
from pocketshop.shops.models import BankCard, MerchantIdentity, Shop
from tests.support import (
    api_bank_card,
    api_error,
    api_identity,
    api_login,
    api_merchant,
    api_open_shop,
    card_number,
    counts,
    csrf_for,
    id_number,
    id_number_aged,
    image_bytes,
    media_files,
    page_alert,
    page_login,
    shanghai_today,
    tr,
    with_bad_luhn,
    with_wrong_check_digit,
    years_before,
)

PHONE = "13800138000"
NAME = "王小明"
XSS = "<script>alert(1)</script>"


def big_png(min_bytes: int) -> bytes:
    """A real PNG image larger than `min_bytes` (stored without compression)."""
    side = int((min_bytes / 3) ** 0.5) + 16
    data = image_bytes("PNG", (side, side), compress_level=0)
    assert len(data) > min_bytes
    return data


def corrupt_exif_jpeg() -> bytes:
    """A JPEG whose EXIF names BitsPerSample with a text value, as some phone apps write."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated
    exif[0x010E] = "hello"  # ImageDescription (ASCII) ...
    raw = exif.tobytes().replace(b"\x01\x0e\x00\x02", b"\x01\x02\x00\x02")  # ... renamed
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(out, "JPEG", exif=raw)
    return out.getvalue()


def mpo_jpeg() -> bytes:
    """A multi-picture JPEG, as many phones save photos (Pillow calls the format MPO)."""
    out = io.BytesIO()
    first, second = Image.new("RGB", (40, 40), "red"), Image.new("RGB", (40, 40), "blue")
    first.save(out, "MPO", save_all=True, append_images=[second])
    return out.getvalue()


async def nothing_more(db: Database, settings: Settings, before: dict[str, int]) -> None:
    assert await counts(db) == before
    assert media_files(settings) == []


# --- service ------------------------------------------------------------------------------------


@pytest.fixture
async def user(db: Database) -> User:
    async with db.transaction() as s:
        return await accounts.get_or_create_user(s, "+8613800138000")


async def refused(db: Database, call: object) -> AppError:
    """Run a service call in its own transaction, the way a request does; return its error."""
    assert callable(call)
    with pytest.raises(AppError) as error:
        async with db.transaction() as s:
            await call(s)
    return error.value


async def identity(db: Database, settings: Settings, user: User, name: str, number: str) -> None:
    async with db.transaction() as s:
        await service.verify_identity(s, settings, user, real_name=name, id_number=number)


async def bank_card(
    db: Database, settings: Settings, user: User, holder: str = NAME, number: str = ""
) -> None:
    async with db.transaction() as s:
        await service.bind_bank_card(
            s,
            settings,
            user,
            holder_name=holder,
            card_number=number or card_number(),
            bank_code="CMB",
        )


@pytest.mark.parametrize(
    ("real_name", "number", "code"),
    [
        (NAME, with_wrong_check_digit(id_number_aged(30)), "invalid_id_number"),
        (NAME, id_number_aged(30)[:17], "invalid_id_number"),
        (NAME, id_number_aged(30) + "1", "invalid_id_number"),
        (NAME, "11010519900230123X", "invalid_id_number"),  # 30 February
        (NAME, id_number(years_before(shanghai_today(), 30), area="999999"), "invalid_id_number"),
        (NAME, "ABCDEFGHIJKLMNOPQR", "invalid_id_number"),
        (NAME, id_number_aged(18, days_to_birthday=1), "under_age"),
        (NAME, id_number_aged(0, days_to_birthday=30), "under_age"),  # born next month
        ("", id_number_aged(30), "name_required"),
        ("   ", id_number_aged(30), "name_required"),
        ("王小明2", id_number_aged(30), "invalid_name"),
        (XSS, id_number_aged(30), "invalid_name"),
        ("王" * 31, id_number_aged(30), "invalid_name"),
        ("...", id_number_aged(30), "invalid_name"),
        ("- · -", id_number_aged(30), "invalid_name"),
        ("王_小明", id_number_aged(30), "invalid_name"),
        ("王小明²", id_number_aged(30), "invalid_name"),
        ("王小明Ⅷ", id_number_aged(30), "invalid_name"),
        ("王小明!", id_number_aged(30), "invalid_name"),
    ],
)
async def test_service_refuses_identity(
    db: Database, settings: Settings, user: User, real_name: str, number: str, code: str
) -> None:
    before = await counts(db)
    error = await refused(
        db,
        lambda s: service.verify_identity(s, settings, user, real_name=real_name, id_number=number),
    )
    assert isinstance(error, InvalidInput)
    assert error.code == code
    assert error.field in ("real_name", "id_number")
    assert await counts(db) == before


@pytest.mark.parametrize("real_name", ["阿卜杜·热合曼", "Li Lei", "Mary-Jane", "José"])
async def test_service_accepts_real_names(
    db: Database, settings: Settings, user: User, real_name: str
) -> None:
    await identity(db, settings, user, real_name, id_number_aged(30))
    async with db.transaction(write=False) as s:
        assert await s.scalar(select(MerchantIdentity.real_name)) == real_name


async def test_service_accepts_the_18th_birthday(
    db: Database, settings: Settings, user: User
) -> None:
    number = id_number_aged(18).lower()  # a lowercase x check digit is fine too
    await identity(db, settings, user, f"  {NAME} ", f"{number[:6]} {number[6:14]} {number[14:]}")
    async with db.transaction(write=False) as s:
        row = await s.scalar(select(MerchantIdentity))
    assert row is not None
    assert row.real_name == NAME
    assert row.id_number_masked == f"{number[0]}{'*' * 16}{number[-1].upper()}"
    assert number.upper() not in row.id_number_encrypted
    assert settings.secrets.fernet.decrypt(row.id_number_encrypted).decode() == number.upper()


@pytest.mark.parametrize(
    ("holder", "number", "bank", "code"),
    [
        ("李四", card_number(), "CMB", "holder_mismatch"),
        ("", card_number(), "CMB", "holder_mismatch"),
        (NAME, with_bad_luhn(card_number()), "CMB", "invalid_card"),
        (NAME, "12345678901", "CMB", "invalid_card"),  # too short
        (NAME, "6" * 20, "CMB", "invalid_card"),  # too long
        (NAME, "6222abcd12345678", "CMB", "invalid_card"),
        (NAME, "６２２２０２１２３４５６７８９０１２", "CMB", "invalid_card"),  # full-width digits
        (NAME, card_number(), "NOPE", "invalid_bank"),
        (NAME, card_number(), "", "invalid_bank"),
    ],
)
async def test_service_refuses_bank_card(
    db: Database,
    settings: Settings,
    user: User,
    holder: str,
    number: str,
    bank: str,
    code: str,
) -> None:
    await identity(db, settings, user, NAME, id_number_aged(30))
    before = await counts(db)
    error = await refused(
        db,
        lambda s: service.bind_bank_card(
            s, settings, user, holder_name=holder, card_number=number, bank_code=bank
        ),
    )
    assert (error.code, error.status_code) == (code, 422)
    assert await counts(db) == before


async def test_service_card_holder_may_differ_in_spaces_and_case(
    db: Database, settings: Settings, user: User
) -> None:
    await identity(db, settings, user, "Li Lei", id_number_aged(30))
    number = card_number()
    await bank_card(
        db, settings, user, holder=" li  LEI ", number="-".join([number[:4], number[4:]])
    )
    async with db.transaction(write=False) as s:
        card = await s.scalar(select(BankCard))
    assert card is not None
    assert (card.holder_name, card.last4) == ("Li Lei", number[-4:])
    assert number not in card.number_encrypted


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "name_required"),
        (" \t\n ", "name_required"),
        ("\u200b", "name_required"),
        ("店" * 31, "name_too_long"),
    ],
)
async def test_service_refuses_shop_name(
    db: Database, settings: Settings, user: User, name: str, code: str
) -> None:
    await identity(db, settings, user, NAME, id_number_aged(30))
    await bank_card(db, settings, user)
    before = await counts(db)
    error = await refused(
        db,
        lambda s: service.open_shop(s, settings, user, name=name, description="", logo_key=None),
    )
    assert (error.code, error.status_code, error.field) == (code, 422, "name")
    await nothing_more(db, settings, before)


async def test_service_cleans_shop_text(db: Database, settings: Settings, user: User) -> None:
    await identity(db, settings, user, NAME, id_number_aged(30))
    await bank_card(db, settings, user)
    async with db.transaction() as s:
        shop = await service.open_shop(
            s,
            settings,
            user,
            name=" 小明 \x00 的\u202e店\t",
            description="  第一行 \x07 \n\n 第二行\u200b  ",
            logo_key=None,
        )
    assert shop.name == "小明 的店"
    assert shop.description == "第一行\n\n第二行"


async def test_service_refuses_long_description(
    db: Database, settings: Settings, user: User
) -> None:
    await identity(db, settings, user, NAME, id_number_aged(30))
    await bank_card(db, settings, user)
    before = await counts(db)
    error = await refused(
        db,
        lambda s: service.open_shop(
            s, settings, user, name="店", description="x" * 501, logo_key=None
        ),
    )
    assert error.code == "description_too_long"
    await nothing_more(db, settings, before)


async def test_service_enforces_step_order(db: Database, settings: Settings, user: User) -> None:
    before = await counts(db)
    shop_first = await refused(
        db,
        lambda s: service.open_shop(s, settings, user, name="店", description="", logo_key=None),
    )
    card_first = await refused(
        db,
        lambda s: service.bind_bank_card(
            s, settings, user, holder_name=NAME, card_number=card_number(), bank_code="CMB"
        ),
    )
    for error in (shop_first, card_first):
        assert isinstance(error, Conflict)
        assert (error.code, error.status_code) == ("step_out_of_order", 409)
    await nothing_more(db, settings, before)

    await identity(db, settings, user, NAME, id_number_aged(30))
    again = await refused(
        db,
        lambda s: service.verify_identity(
            s, settings, user, real_name="李四", id_number=id_number_aged(40)
        ),
    )
    assert (again.code, again.status_code) == ("step_out_of_order", 409)

    await bank_card(db, settings, user)
    async with db.transaction() as s:
        await service.open_shop(s, settings, user, name="店", description="", logo_key=None)
    for call in (
        lambda s: service.verify_identity(
            s, settings, user, real_name=NAME, id_number=id_number_aged(30)
        ),
        lambda s: service.bind_bank_card(
            s, settings, user, holder_name=NAME, card_number=card_number(), bank_code="CMB"
        ),
        lambda s: service.open_shop(s, settings, user, name="店 2", description="", logo_key=None),
    ):
        error = await refused(db, call)
        assert (error.code, error.status_code) == ("onboarding_done", 409)
    assert (await counts(db))["shops"] == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "invalid_logo"),
        (b"hello, I am not an image", "invalid_logo"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "invalid_logo"),  # a PNG signature, then junk
        (image_bytes("PNG")[:120], "invalid_logo"),  # truncated
        (image_bytes("BMP"), "invalid_logo"),  # an image, but not an accepted format
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "invalid_logo",
        ),
        (image_bytes("PNG", (5000, 4000)), "logo_too_large"),  # too many pixels
    ],
)
def test_logo_refusals(settings: Settings, data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as error:
        logos.process(settings, data)
    assert (error.value.code, error.value.field) == (code, "logo")


def test_logo_byte_limit(settings: Settings) -> None:
    small = settings.model_copy(update={"logo_max_bytes": 1000})
    data = image_bytes("PNG", (80, 80), compress_level=0)
    assert len(data) > 1000
    with pytest.raises(InvalidInput) as error:
        logos.process(small, data)
    assert error.value.code == "logo_too_large"
    assert len(logos.process(settings, data)) > 0


@pytest.mark.parametrize(
    "data",
    [image_bytes("JPEG"), image_bytes("GIF"), image_bytes("WEBP"), mpo_jpeg(), corrupt_exif_jpeg()],
    ids=["jpeg", "gif", "webp", "mpo-phone-photo", "corrupt-exif"],
)
def test_logo_accepts_phone_images(settings: Settings, data: bytes) -> None:
    logo = Image.open(io.BytesIO(logos.process(settings, data)))
    assert logo.format == "PNG"
    assert not logo.getexif()


async def test_the_logo_is_decoded_off_the_event_loop_before_the_transaction(
    db: Database, settings: Settings, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding a large logo takes CPU for a good part of a second: in a worker thread, and
    with no transaction open (on SQLite every checkout would wait for its write lock)."""
    threads: list[str] = []
    process = logos.process

    def spy(settings: Settings, data: bytes) -> bytes:
        threads.append(threading.current_thread().name)
        return process(settings, data)

    monkeypatch.setattr(logos, "process", spy)
    png = await logos.prepare(settings, image_bytes())
    assert png is not None
    assert len(threads) == 1
    assert threads[0] != threading.main_thread().name
    assert await logos.prepare(settings, None) is None


def test_logo_is_turned_upright_and_stripped(settings: Settings) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "secret location"
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(out, "JPEG", exif=exif.tobytes())
    png = logos.process(settings, out.getvalue())
    assert Image.open(io.BytesIO(png)).size == (20, 40)
    assert b"secret" not in png


# --- JSON API -----------------------------------------------------------------------------------


@pytest.fixture
async def auth(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    return await api_login(client, app, PHONE)


async def step(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    state = await client.get("/api/v1/onboarding", headers=auth)
    assert state.status_code == 200
    value: str = state.json()["step"]
    return value


async def test_api_identity_with_bad_checksum(
    client: httpx.AsyncClient, db: Database, auth: dict[str, str]
) -> None:
    before = await counts(db)
    bad = with_wrong_check_digit(id_number_aged(30))
    error = api_error(await api_identity(client, auth, id_number=bad), 422, "invalid_id_number")
    assert error["field"] == "id_number"
    assert await counts(db) == before
    assert await step(client, auth) == "identity"


async def test_api_identity_under_18(
    client: httpx.AsyncClient, db: Database, auth: dict[str, str]
) -> None:
    before = await counts(db)
    young = id_number_aged(18, days_to_birthday=1)
    api_error(await api_identity(client, auth, id_number=young), 422, "under_age")
    assert await counts(db) == before
    # A day later they are 18.
    clock.advance(timedelta(days=1))
    assert (await api_identity(client, auth, id_number=young)).status_code == 200


async def test_api_bank_card_failing_luhn(
    client: httpx.AsyncClient, db: Database, auth: dict[str, str]
) -> None:
    assert (await api_identity(client, auth)).status_code == 200
    before = await counts(db)
    bad = with_bad_luhn(card_number())
    error = api_error(await api_bank_card(client, auth, card_number=bad), 422, "invalid_card")
    assert error["field"] == "card_number"
    assert await counts(db) == before
    assert await step(client, auth) == "bank_card"


async def test_api_bank_card_of_someone_else(
    client: httpx.AsyncClient, db: Database, auth: dict[str, str]
) -> None:
    assert (await api_identity(client, auth, NAME)).status_code == 200
    before = await counts(db)
    response = await api_bank_card(client, auth, "李四")
    error = api_error(response, 422, "holder_mismatch")
    assert error["field"] == "holder_name"
    assert await counts(db) == before


async def test_api_bank_not_in_the_list(
    client: httpx.AsyncClient, db: Database, auth: dict[str, str]
) -> None:
    assert (await api_identity(client, auth)).status_code == 200
    before = await counts(db)
    api_error(await api_bank_card(client, auth, bank="HSBC"), 422, "invalid_bank")
    assert await counts(db) == before
    banks = (await client.get("/api/v1/banks")).json()
    assert "HSBC" not in {bank["code"] for bank in banks}


@pytest.fixture
async def ready(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    """A merchant who has done identity and bank card: the shop step is next."""
    return await api_merchant(client, app, PHONE)


async def test_api_logo_that_is_not_an_image(
    client: httpx.AsyncClient, db: Database, settings: Settings, ready: dict[str, str]
) -> None:
    before = await counts(db)
    response = await api_open_shop(client, ready, "小明的店", logo=b"just some text\n")
    error = api_error(response, 422, "invalid_logo")
    assert error["field"] == "logo"
    await nothing_more(db, settings, before)
    assert await step(client, ready) == "shop"


async def test_api_logo_too_large(
    client: httpx.AsyncClient, db: Database, settings: Settings, ready: dict[str, str]
) -> None:
    before = await counts(db)
    response = await api_open_shop(client, ready, "小明的店", logo=big_png(settings.logo_max_bytes))
    api_error(response, 422, "logo_too_large")
    await nothing_more(db, settings, before)


async def test_api_logo_from_a_phone_camera(
    client: httpx.AsyncClient, settings: Settings, ready: dict[str, str]
) -> None:
    response = await api_open_shop(
        client, ready, "小明的店", logo=mpo_jpeg(), filename="IMG_0001.JPG"
    )
    assert response.status_code == 201, response.text
    assert len(media_files(settings)) == 1


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "name_required"), ("   ", "name_required"), ("店" * 31, "name_too_long")],
)
async def test_api_bad_shop_name(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    ready: dict[str, str],
    name: str,
    code: str,
) -> None:
    before = await counts(db)
    response = await api_open_shop(client, ready, name, logo=image_bytes())
    error = api_error(response, 422, code)
    assert error["field"] == "name"
    await nothing_more(db, settings, before)


async def test_api_shop_name_of_30_characters(
    client: httpx.AsyncClient, ready: dict[str, str]
) -> None:
    response = await api_open_shop(client, ready, "店" * 30)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "店" * 30


async def test_api_shop_name_is_escaped_on_pages(
    client: httpx.AsyncClient, app: FastAPI, ready: dict[str, str]
) -> None:
    shop = await api_open_shop(client, ready, XSS, description=f"{XSS}\nsecond line")
    assert shop.status_code == 201, shop.text
    assert shop.json()["name"] == XSS  # JSON carries the text as is
    public = await client.get(f"/s/{shop.json()['slug']}")
    assert public.status_code == 200
    assert "<script>" not in public.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in public.text
    assert 'content="&lt;script&gt;' in public.text  # the Open Graph title as well

    clock.advance(timedelta(seconds=61))  # the next code may be sent
    await page_login(client, app, PHONE)
    console = await client.get("/console")
    assert console.status_code == 200
    assert "<script>" not in console.text
    assert "&lt;script&gt;" in console.text


async def test_api_shop_before_identity(
    client: httpx.AsyncClient, db: Database, settings: Settings, auth: dict[str, str]
) -> None:
    before = await counts(db)
    response = await api_open_shop(client, auth, "小明的店", logo=image_bytes())
    api_error(response, 409, "step_out_of_order")
    api_error(await api_bank_card(client, auth), 409, "step_out_of_order")
    await nothing_more(db, settings, before)
    assert await step(client, auth) == "identity"


async def test_api_repeating_finished_steps(
    client: httpx.AsyncClient, db: Database, settings: Settings, ready: dict[str, str]
) -> None:
    before = await counts(db)
    api_error(
        await api_identity(client, ready, "李四", id_number=id_number_aged(40)),
        409,
        "step_out_of_order",
    )
    api_error(await api_bank_card(client, ready), 409, "step_out_of_order")
    assert await counts(db) == before

    assert (await api_open_shop(client, ready, "小明的店")).status_code == 201
    before = await counts(db)
    api_error(await api_identity(client, ready), 409, "onboarding_done")
    api_error(await api_bank_card(client, ready), 409, "onboarding_done")
    api_error(
        await api_open_shop(client, ready, "第二家店", logo=image_bytes()), 409, "onboarding_done"
    )
    await nothing_more(db, settings, before)
    state = (await client.get("/api/v1/onboarding", headers=ready)).json()
    assert state["identity"]["real_name"] == NAME
    assert state["shop"]["name"] == "小明的店"


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/api/v1/onboarding/identity", b'{"real_name": "x"'),
        ("/api/v1/onboarding/identity", b'{"real_name": "Wang"}'),
        ("/api/v1/onboarding/identity", b'{"real_name": ["Wang"], "id_number": "1"}'),
        (
            "/api/v1/onboarding/identity",
            b'{"real_name": "Wang Lei", "id_number": "110105199003071232", "verified": true}',
        ),
        ("/api/v1/onboarding/identity", b'"110105199003071232"'),
        ("/api/v1/onboarding/bank-card", b"{}"),
        (
            "/api/v1/onboarding/bank-card",
            b'{"holder_name": "a", "card_number": "1", "bank": "CMB", "last4": "0000"}',
        ),
    ],
)
async def test_api_malformed_bodies(
    client: httpx.AsyncClient, db: Database, auth: dict[str, str], path: str, content: bytes
) -> None:
    before = await counts(db)
    response = await client.post(
        path, content=content, headers=auth | {"content-type": "application/json"}
    )
    error = api_error(response, 422, "invalid")
    assert error["details"]
    assert await counts(db) == before


async def test_api_shop_needs_a_form(
    client: httpx.AsyncClient, db: Database, settings: Settings, ready: dict[str, str]
) -> None:
    before = await counts(db)
    response = await client.post("/api/v1/onboarding/shop", json={"name": "店"}, headers=ready)
    api_error(response, 422, "name_required")  # a JSON body carries no form fields
    await nothing_more(db, settings, before)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/onboarding"),
        ("POST", "/api/v1/onboarding/identity"),
        ("POST", "/api/v1/onboarding/bank-card"),
        ("POST", "/api/v1/onboarding/shop"),
        ("GET", "/api/v1/me/shop"),
    ],
)
async def test_api_onboarding_needs_a_token(
    client: httpx.AsyncClient, db: Database, method: str, path: str
) -> None:
    response = await client.request(method, path, headers={"Authorization": "Bearer nope"})
    api_error(response, 401, "not_authenticated")
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


# --- HTML pages ---------------------------------------------------------------------------------


@pytest.fixture
async def browser(client: httpx.AsyncClient, app: FastAPI) -> httpx.AsyncClient:
    """The test client, logged in through the pages."""
    done = await page_login(client, app, PHONE, next_url="/onboarding")
    assert done.status_code == 303
    return client


async def post_form(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> httpx.Response:
    token = await csrf_for(client, "/")
    return await client.post(path, data=data | {"csrf_token": token}, files=files)


async def page_identity(
    client: httpx.AsyncClient, real_name: str = NAME, number: str = ""
) -> httpx.Response:
    return await post_form(
        client,
        "/onboarding/identity",
        {"real_name": real_name, "id_number": number or id_number_aged(30)},
    )


async def page_bank_card(
    client: httpx.AsyncClient, holder: str = NAME, number: str = "", bank: str = "ICBC"
) -> httpx.Response:
    return await post_form(
        client,
        "/onboarding/bank-card",
        {"holder_name": holder, "card_number": number or card_number(), "bank": bank},
    )


async def page_shop(
    client: httpx.AsyncClient, name: str, logo: bytes | None = None, filename: str = "logo.png"
) -> httpx.Response:
    files = {"logo": (filename, logo, "image/png")} if logo is not None else None
    return await post_form(client, "/onboarding/shop", {"name": name, "description": ""}, files)


def assert_form_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert page_alert(response.text) == (code, message)


async def test_page_identity_with_bad_checksum(browser: httpx.AsyncClient, db: Database) -> None:
    before = await counts(db)
    bad = with_wrong_check_digit(id_number_aged(30))
    response = await page_identity(browser, number=bad)
    assert_form_error(
        response,
        422,
        "invalid_id_number",
        tr("This resident ID number is not valid. Please check it."),
    )
    assert 'action="/onboarding/identity"' in response.text
    assert f'value="{NAME}"' in response.text  # what was typed is kept
    assert await counts(db) == before


async def test_page_identity_under_18(browser: httpx.AsyncClient, db: Database) -> None:
    before = await counts(db)
    response = await page_identity(browser, number=id_number_aged(18, days_to_birthday=1))
    assert_form_error(
        response, 422, "under_age", tr("You must be at least 18 years old to open a shop.")
    )
    assert await counts(db) == before


async def test_page_bank_card_failing_luhn(browser: httpx.AsyncClient, db: Database) -> None:
    assert (await page_identity(browser)).status_code == 303
    before = await counts(db)
    response = await page_bank_card(browser, number=with_bad_luhn(card_number()))
    assert_form_error(
        response, 422, "invalid_card", tr("This card number is not valid. Please check it.")
    )
    assert 'action="/onboarding/bank-card"' in response.text
    assert await counts(db) == before


async def test_page_bank_card_of_someone_else(browser: httpx.AsyncClient, db: Database) -> None:
    assert (await page_identity(browser)).status_code == 303
    before = await counts(db)
    response = await page_bank_card(browser, holder="李四")
    assert_form_error(
        response, 422, "holder_mismatch", tr("The card holder must be you: %(name)s.", name=NAME)
    )
    assert await counts(db) == before


@pytest.fixture
async def page_ready(browser: httpx.AsyncClient) -> httpx.AsyncClient:
    assert (await page_identity(browser)).status_code == 303
    assert (await page_bank_card(browser)).status_code == 303
    return browser


async def test_page_logo_that_is_not_an_image(
    page_ready: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    before = await counts(db)
    response = await page_shop(page_ready, "小明的店", b"not an image at all")
    assert_form_error(
        response, 422, "invalid_logo", tr("The logo must be a JPEG, PNG, WebP or GIF image.")
    )
    assert 'value="小明的店"' in response.text
    await nothing_more(db, settings, before)


async def test_page_logo_too_large(
    page_ready: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    before = await counts(db)
    response = await page_shop(page_ready, "小明的店", big_png(settings.logo_max_bytes))
    assert_form_error(
        response, 422, "logo_too_large", tr("The logo is too large: at most %(mb)s MB.", mb=2)
    )
    await nothing_more(db, settings, before)


async def test_page_shop_without_a_logo_file(
    page_ready: httpx.AsyncClient, settings: Settings
) -> None:
    # Browsers send an empty file part when no file was chosen.
    token = await csrf_for(page_ready)
    response = await page_ready.post(
        "/onboarding/shop",
        data={"name": "小明的店", "csrf_token": token},
        files={"logo": ("", b"", "application/octet-stream")},
    )
    assert response.status_code == 303, response.text
    assert media_files(settings) == []


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("", "name_required", "Enter a shop name."),
        ("   ", "name_required", "Enter a shop name."),
    ],
)
async def test_page_empty_shop_name(
    page_ready: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    name: str,
    code: str,
    message: str,
) -> None:
    before = await counts(db)
    response = await page_shop(page_ready, name, image_bytes())
    assert_form_error(response, 422, code, tr(message))
    await nothing_more(db, settings, before)


async def test_page_shop_name_too_long(
    page_ready: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    before = await counts(db)
    response = await page_shop(page_ready, "店" * 31, image_bytes())
    assert_form_error(
        response,
        422,
        "name_too_long",
        tr("The shop name can have at most %(max)s characters.", max=30),
    )
    await nothing_more(db, settings, before)


async def test_page_shop_name_is_escaped(page_ready: httpx.AsyncClient) -> None:
    done = await page_shop(page_ready, XSS)
    assert done.status_code == 303
    for path in ("/console", "/s/script-alert-1-script"):
        page = await page_ready.get(path)
        assert page.status_code == 200
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


CSRF_MESSAGE = "This form has expired or did not come from this site. Please try again."


async def test_page_form_without_csrf(
    browser: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    before = await counts(db)
    response = await browser.post(
        "/onboarding/identity", data={"real_name": NAME, "id_number": id_number_aged(30)}
    )
    assert response.status_code == 403
    assert tr(CSRF_MESSAGE) in response.text
    assert await counts(db) == before


async def test_page_upload_without_csrf(
    page_ready: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    before = await counts(db)
    response = await page_ready.post(
        "/onboarding/shop",
        data={"name": "小明的店"},
        files={"logo": ("logo.png", image_bytes(), "image/png")},
    )
    assert response.status_code == 403
    assert tr(CSRF_MESSAGE) in response.text
    await nothing_more(db, settings, before)


async def test_page_form_with_wrong_csrf(
    browser: httpx.AsyncClient, app: FastAPI, db: Database, settings: Settings
) -> None:
    mine = await csrf_for(browser)
    before = await counts(db)
    for token in ("0" * 64, mine[::-1], mine + "0"):
        response = await browser.post(
            "/onboarding/identity",
            data={"real_name": NAME, "id_number": id_number_aged(30), "csrf_token": token},
        )
        assert response.status_code == 403
        assert tr(CSRF_MESSAGE) in response.text
    # The right token in the header instead of the form is accepted (for scripts) ...
    response = await browser.post(
        "/onboarding/identity",
        data={"real_name": NAME, "id_number": id_number_aged(30)},
        headers={"X-CSRF-Token": "0" * 64},
    )
    assert response.status_code == 403  # ... but not a wrong one.
    assert await counts(db) == before


async def test_page_shop_before_identity(
    browser: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    before = await counts(db)
    response = await page_shop(browser, "小明的店", image_bytes())
    assert_form_error(
        response, 409, "step_out_of_order", tr("Please finish the earlier steps first.")
    )
    assert 'action="/onboarding/identity"' in response.text  # shows the step that is due
    response = await page_bank_card(browser)
    assert_form_error(
        response, 409, "step_out_of_order", tr("Please finish the earlier steps first.")
    )
    await nothing_more(db, settings, before)


async def test_page_repeating_a_finished_step(browser: httpx.AsyncClient, db: Database) -> None:
    assert (await page_identity(browser)).status_code == 303
    before = await counts(db)
    response = await page_identity(browser, "李四", id_number_aged(40))
    assert_form_error(response, 409, "step_out_of_order", tr("This step is already done."))
    assert 'action="/onboarding/bank-card"' in response.text
    assert await counts(db) == before


async def test_page_step_after_the_shop_is_open(
    page_ready: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    assert (await page_shop(page_ready, "小明的店")).status_code == 303
    before = await counts(db)
    for response in (
        await page_identity(page_ready),
        await page_bank_card(page_ready),
        await page_shop(page_ready, "第二家店", image_bytes()),
    ):
        assert response.status_code == 409
        assert tr("Your shop is already open.") in response.text
    await nothing_more(db, settings, before)


async def test_page_steps_need_a_login(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    token = await csrf_for(client)
    response = await client.post(
        "/onboarding/identity",
        data={"real_name": NAME, "id_number": id_number_aged(30), "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert await counts(db) == dict.fromkeys(await counts(db), 0)
    # Coming back after logging in lands on a page, not on "method not allowed".
    back = await page_login(client, app, PHONE, next_url="/onboarding/identity")
    assert back.status_code == 303
    landing = await client.get(back.headers["location"], follow_redirects=True)
    assert landing.status_code == 200
    assert 'action="/onboarding/identity"' in landing.text


async def test_shop_rows_hold_no_plain_numbers(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    number, card = id_number_aged(30), card_number()
    auth = await api_merchant(client, app, PHONE, id_no=number, card=card, shop_name="小明的店")
    assert auth
    async with db.transaction(write=False) as s:
        identity_row = await s.scalar(select(MerchantIdentity))
        card_row = await s.scalar(select(BankCard))
        shop_row = await s.scalar(select(Shop))
    assert identity_row is not None
    assert card_row is not None
    assert shop_row is not None
    assert number not in (identity_row.id_number_encrypted, identity_row.id_number_masked)
    assert card not in card_row.number_encrypted
    assert card_row.last4 == card[-4:]
