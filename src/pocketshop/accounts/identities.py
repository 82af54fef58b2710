"""Who someone is besides their phone: their openid in the platform's WeChat apps. Signing in
with WeChat finds the account of an openid, or opens one without a phone; binding a phone to
it later makes the person one account: theirs already if the phone had one (the WeChat
account's carts, addresses and bindings join it, and the WeChat account goes)."""

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock
from pocketshop.accounts import service
from pocketshop.accounts.models import User, WeChatIdentity
from pocketshop.accounts.wechat import WeChatProfile
from pocketshop.attribution import bindings
from pocketshop.config import Settings
from pocketshop.errors import Conflict
from pocketshop.i18n import _
from pocketshop.orders import addresses, cart
from pocketshop.orders import service as orders
from pocketshop.shops import service as shops
from pocketshop.text import clean_line, too_long

NICKNAME_LIMIT = 64


@dataclass(frozen=True)
class Bound:
    """Whose account the phone now belongs to; `merged` when it was another account's, which
    the signed-in one joined (its logins ended: sign in as `user`)."""

    user: User
    merged: bool


async def sign_in(
    session: AsyncSession, appid: str, openid: str, profile: WeChatProfile | None = None
) -> User:
    """The account of this openid, opened (without a phone) on its first sign-in. A profile
    the user agreed to share (snsapi_userinfo) is kept with the identity."""
    found = await _identity(session, appid, openid)
    if found is None:
        try:
            async with session.begin_nested():
                user = User(phone=None, created_at=clock.now())
                session.add(user)
                await session.flush()
                session.add(
                    WeChatIdentity(
                        user_id=user.id, appid=appid, openid=openid, created_at=clock.now()
                    )
                )
        except IntegrityError:
            # The same openid signed in twice at once (a double tap): the other one won.
            found = await _identity(session, appid, openid)
            if found is None:
                raise
    identity = found or await _identity(session, appid, openid)
    assert identity is not None
    if profile is not None:
        identity.nickname = _nickname(profile.nickname)
        identity.avatar_url = profile.headimgurl[:512] or None
        identity.unionid = profile.unionid
    signed_in = await session.get(User, identity.user_id)
    assert signed_in is not None
    signed_in.last_login_at = clock.now()
    await session.flush()
    return signed_in


async def profile_of(session: AsyncSession, user_id: int) -> WeChatIdentity | None:
    """The WeChat identity whose name and avatar the user shared, if any."""
    return await session.scalar(
        select(WeChatIdentity)
        .where(WeChatIdentity.user_id == user_id, WeChatIdentity.nickname.is_not(None))
        .order_by(WeChatIdentity.id)
        .limit(1)
    )


async def bind_phone(
    session: AsyncSession, settings: Settings, user: User, *, phone: str, code: str
) -> Bound:
    """Bind the phone a code proves to the account of a WeChat sign-in. When the phone has an
    account already, that account is the person's: the WeChat identities and what the
    signed-in account holds move to it, and the signed-in account goes."""
    if user.phone is not None:
        raise Conflict(_("Your account has a phone number already."), code="phone_bound")
    phone = await service.consume_code(session, settings, phone=phone, code=code)
    owner = await session.scalar(select(User).where(User.phone == phone))
    if owner is None:
        user.phone = phone
        await session.flush()
        return Bound(user, merged=False)
    await _merge(session, user, owner)
    owner.last_login_at = clock.now()
    await session.flush()
    return Bound(owner, merged=True)


async def _merge(session: AsyncSession, user: User, owner: User) -> None:
    """`user` (signed in with WeChat, no phone) joins `owner` (the phone's account)."""
    apps = select(WeChatIdentity.appid).where(WeChatIdentity.user_id == owner.id)
    if await session.scalar(
        select(WeChatIdentity.id)
        .where(WeChatIdentity.user_id == user.id, WeChatIdentity.appid.in_(apps))
        .limit(1)
    ):
        raise Conflict(
            _("This phone number's account is linked to another WeChat account."),
            code="phone_taken",
        )
    # Ordering and opening a shop both need a phone, so a phoneless account has done neither;
    # if one had, its orders or shop could not simply change hands.
    if await orders.has_bought(session, user.id) or await shops.owns_shop(session, user.id):
        raise Conflict(
            _("This account has orders or a shop of its own: it cannot join another."),
            code="account_in_use",
        )
    await session.execute(
        update(WeChatIdentity)
        .where(WeChatIdentity.user_id == user.id)
        .values(user_id=owner.id)
        .execution_options(synchronize_session=False)
    )
    await cart.move(session, user, owner)
    await addresses.move(session, user.id, owner.id)
    await bindings.move_buyer(session, user.id, owner.id)
    await orders.move_sharer(session, user.id, owner.id)
    # Its logins, inbox and what is left of its carts go with it (ON DELETE CASCADE).
    await session.execute(delete(User).where(User.id == user.id))
    cache.invalidate(session, cache.user_tag(user.id))


async def _identity(session: AsyncSession, appid: str, openid: str) -> WeChatIdentity | None:
    return await session.scalar(
        select(WeChatIdentity).where(WeChatIdentity.appid == appid, WeChatIdentity.openid == openid)
    )


def _nickname(raw: str) -> str | None:
    name = clean_line(raw)
    while name and too_long(name, NICKNAME_LIMIT):
        name = name[:-1]
    return name or None
