from typing import Annotated

from fastapi import Depends, File, Form, Request, UploadFile, status
from fastapi.security import HTTPAuthorizationCredentials

from pocketshop import media
from pocketshop.accounts.deps import ApiUser, api_user_in, bearer_scheme, bearer_token
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.errors import InvalidInput, Unauthorized
from pocketshop.i18n import _
from pocketshop.shops import logos, service
from pocketshop.shops.deps import MerchantShop, own_shop_in
from pocketshop.shops.models import Shop
from pocketshop.shops.schemas import (
    BankCardIn,
    BankCardOut,
    BankOut,
    IdentityIn,
    IdentityOut,
    MyShopOut,
    OnboardingOut,
    ShopOut,
    ShopProfileIn,
)
from pocketshop.web.routing import (
    AppSettings,
    Session,
    api_router,
    get_settings,
    outside_router,
    public_base_url,
    unit,
)

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

router = api_router(prefix="/api/v1", tags=["shops"])
# Routes that decode uploads before their transaction (see OutsideRoute).
outside = outside_router(prefix="/api/v1", tags=["shops"])


def shop_out(request: Request, settings: Settings, shop: Shop) -> ShopOut:
    url = service.shop_url(public_base_url(request), shop)
    return ShopOut(
        id=shop.public_id,
        slug=shop.slug,
        name=shop.name,
        description=shop.description,
        logo_url=service.logo_url(shop),
        url=url,
        qr_svg_url=f"{url}/qr.svg",
        qr_png_url=f"{url}/qr.png",
        created_at=shop.created_at,
        service_phone=shop.service_phone,
        wechat_id=shop.wechat_id,
        business_hours=shop.business_hours,
    )


def my_shop_out(request: Request, settings: Settings, shop: Shop) -> MyShopOut:
    return MyShopOut(
        **shop_out(request, settings, shop).model_dump(), return_address=shop.return_address
    )


async def onboarding_out(
    request: Request, session: Session, settings: Settings, user: User
) -> OnboardingOut:
    state = await service.onboarding(session, user)
    return OnboardingOut(
        step=state.step.value,
        identity=IdentityOut(
            real_name=state.identity.real_name,
            id_number_masked=state.identity.id_number_masked,
        )
        if state.identity
        else None,
        bank_card=BankCardOut(
            bank=state.bank_card.bank_code,
            bank_name=service.bank_name(state.bank_card.bank_code),
            last4=state.bank_card.last4,
        )
        if state.bank_card
        else None,
        shop=shop_out(request, settings, state.shop) if state.shop else None,
    )


@router.get("/banks")
async def list_banks() -> list[BankOut]:
    """Banks a payout card can belong to."""
    return [BankOut(code=code, name=name) for code, name in service.banks()]


@router.get("/onboarding")
async def get_onboarding(
    request: Request, user: ApiUser, session: Session, settings: AppSettings
) -> OnboardingOut:
    """Where the merchant is in the four steps; step 1 (phone) is done by logging in."""
    return await onboarding_out(request, session, settings, user)


@router.post("/onboarding/identity")
async def submit_identity(
    body: IdentityIn, request: Request, user: ApiUser, session: Session, settings: AppSettings
) -> OnboardingOut:
    await service.verify_identity(
        session, settings, user, real_name=body.real_name, id_number=body.id_number
    )
    return await onboarding_out(request, session, settings, user)


@router.post("/onboarding/bank-card")
async def submit_bank_card(
    body: BankCardIn, request: Request, user: ApiUser, session: Session, settings: AppSettings
) -> OnboardingOut:
    await service.bind_bank_card(
        session,
        settings,
        user,
        holder_name=body.holder_name,
        card_number=body.card_number,
        bank_code=body.bank,
    )
    return await onboarding_out(request, session, settings, user)


@outside.post(
    "/onboarding/shop",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(bearer_scheme)],
)
async def submit_shop(
    request: Request,
    # Not required by the form parser: an empty name must get the service's name_required.
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    logo: Annotated[UploadFile | None, File()] = None,
) -> ShopOut:
    """Last step (multipart form): name 1–30 characters, optional logo and description.
    The logo is decoded before the transaction that opens the shop, its file kept once that
    committed."""
    settings = get_settings(request)
    async with unit(request, write=False) as session:
        await api_user_in(session, request)  # who asks, before any decoding
    png = await logos.prepare(
        settings, await logo.read(settings.logo_max_bytes + 1) if logo else None
    )
    with media.staged(settings) as files:
        logo_key = logos.stage(files, png)
        async with unit(request) as session:
            user = await api_user_in(session, request)
            shop = await service.open_shop(
                session, settings, user, name=name, description=description, logo_key=logo_key
            )
    return shop_out(request, settings, shop)


@router.get("/me/shop")
async def my_shop(request: Request, shop: MerchantShop, settings: AppSettings) -> MyShopOut:
    return my_shop_out(request, settings, shop)


@router.put("/me/shop")
async def update_my_shop(
    body: ShopProfileIn,
    request: Request,
    session: Session,
    shop: MerchantShop,
    settings: AppSettings,
) -> MyShopOut:
    """Change the shop's settings (JSON); the link (slug) stays the same."""
    await service.update_profile(
        session,
        settings,
        shop,
        name=body.name,
        description=body.description,
        service_phone=body.service_phone,
        wechat_id=body.wechat_id,
        business_hours=body.business_hours,
        return_address=body.return_address,
    )
    return my_shop_out(request, settings, shop)


async def token_sent(request: Request, _scheme: BearerCredentials) -> None:
    """No Authorization at all answers 401 before the form is read (a token that is sent is
    checked in the route's own transaction)."""
    if bearer_token(request) is None:
        raise Unauthorized(_("Log in first: send a valid bearer token."), code="not_authenticated")


@outside.post("/me/shop/logo", dependencies=[Depends(token_sent)])
async def replace_logo(
    request: Request,
    # Not required by the form parser: who asks is checked first, then a missing or empty
    # file gets the logo's own refusal.
    logo: Annotated[UploadFile | None, File()] = None,
) -> MyShopOut:
    """A new logo (multipart `logo`, required: JPEG, PNG, WebP or GIF), decoded before the
    transaction that records it, its file kept once that committed."""
    settings = get_settings(request)
    async with unit(request, write=False) as session:
        await own_shop_in(session, await api_user_in(session, request))  # before any decoding
    sent = await logo.read(settings.logo_max_bytes + 1) if logo else None
    png = await logos.prepare(settings, sent)
    if png is None:
        raise InvalidInput(_("The logo file is empty."), code="invalid_logo", field="logo")
    with media.staged(settings) as files:
        logo_key = logos.stage(files, png)
        async with unit(request) as session:
            shop = await own_shop_in(session, await api_user_in(session, request))
            await service.update_profile(session, settings, shop, logo_key=logo_key)
    return my_shop_out(request, settings, shop)


@router.get("/shops/{slug}")
async def get_shop(slug: str, request: Request, session: Session, settings: AppSettings) -> ShopOut:
    shop = await service.get_by_slug_or_404(session, slug)
    return shop_out(request, settings, shop)
