from typing import Annotated

from fastapi import Depends, File, Form, Request, UploadFile, status

from pocketshop import media
from pocketshop.accounts.deps import ApiUser, api_user_in, bearer_scheme
from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.shops import logos, service
from pocketshop.shops.deps import MerchantShop
from pocketshop.shops.models import Shop
from pocketshop.shops.schemas import (
    BankCardIn,
    BankCardOut,
    BankOut,
    IdentityIn,
    IdentityOut,
    OnboardingOut,
    ShopOut,
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
async def my_shop(request: Request, shop: MerchantShop, settings: AppSettings) -> ShopOut:
    return shop_out(request, settings, shop)


@router.get("/shops/{slug}")
async def get_shop(slug: str, request: Request, session: Session, settings: AppSettings) -> ShopOut:
    shop = await service.get_by_slug_or_404(session, slug)
    return shop_out(request, settings, shop)
