"""Phone login: SMS codes with expiry, try limits, resend delay and hourly caps; sessions."""

import functools
import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import cache, clock, db, outbox
from pocketshop.accounts.models import AuthSession, SmsCode, User, WeChatIdentity
from pocketshop.config import Settings
from pocketshop.errors import Forbidden, InvalidInput, TooManyRequests
from pocketshop.i18n import N_, _, get_locale

SMS_TOPIC = "accounts.sms"
CODE_LENGTH = 6


class SessionKind(StrEnum):
    web = "web"
    api = "api"


@dataclass(frozen=True)
class SentCode:
    phone: str
    expires_in: int
    resend_after: int


_PHONE_ERRORS = {
    "phone_required": N_("Enter your mobile phone number."),
    "invalid_phone": N_("That is not a valid mobile phone number."),
    "not_mobile": N_("Codes can only be sent to a mobile phone number."),
}


def normalise_phone(raw: str, region: str) -> str:
    """Validate with phonenumbers and return E.164; '138 0013 8000' -> '+8613800138000'."""
    text = (raw or "").strip()
    # No phone number is this long; and the cache below must not hold big strings.
    e164, error = ("", "invalid_phone") if len(text) > 40 else _parse_mobile(text, region)
    if error:
        raise InvalidInput(_(_PHONE_ERRORS[error]), code=error, field="phone")
    return e164


# Parsing costs a good share of an order's CPU, and buyers send the same few numbers again.
@functools.lru_cache(maxsize=4096)
def _parse_mobile(text: str, region: str) -> tuple[str, str]:
    """(E.164, "") or ("", error code)."""
    if not text:
        return "", "phone_required"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "", "invalid_phone"
    if not phonenumbers.is_valid_number(number):
        return "", "invalid_phone"
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return "", "not_mobile"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def display_phone(phone: str) -> str:
    """A phone as people in its country write it, e.g. '138 0013 8000'; other text as given."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _code_hash(settings: Settings, phone: str, code: str) -> str:
    key = settings.secrets.secret_key.encode()
    return hmac.new(key, f"sms:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Advisory lock key spaces (first key of pg_advisory_xact_lock(int, int)).
_LOCK_SMS_PHONE = 1
_LOCK_SMS_IP = 2


async def _queue_sends(session: AsyncSession, phone: str, ip: str) -> None:
    """Make code requests for one phone, and from one IP, wait for each other until commit.

    The resend delay and the hourly caps are a read followed by an insert; two requests at the
    same moment would both read "nothing sent yet" and both send. SQLite already runs writing
    requests one at a time; on PostgreSQL a transaction-scoped advisory lock does it (always
    phone first, then IP, so two requests never wait for each other in a circle).
    """
    for space, key in ((_LOCK_SMS_PHONE, phone), (_LOCK_SMS_IP, ip)):
        await db.serialize(session, space, key)


async def send_login_code(
    session: AsyncSession, settings: Settings, *, phone: str, ip: str
) -> SentCode:
    phone = normalise_phone(phone, settings.default_phone_region)
    await _queue_sends(session, phone, ip)
    now = clock.now()
    hour_ago = now - timedelta(hours=1)

    last_sent = await session.scalar(
        select(func.max(SmsCode.created_at)).where(SmsCode.phone == phone)
    )
    if last_sent is not None:
        # Rounded up: truncating let a new code out up to a second early (and said "0 s").
        wait = math.ceil(
            (last_sent + timedelta(seconds=settings.sms_resend_seconds) - now).total_seconds()
        )
        if wait > 0:
            raise TooManyRequests(
                _(
                    "A code was just sent. You can ask for another in %(seconds)s seconds.",
                    seconds=wait,
                ),
                retry_after=wait,
                code="resend_too_soon",
            )
    sent_to_phone = await session.scalar(
        select(func.count()).where(SmsCode.phone == phone, SmsCode.created_at > hour_ago)
    )
    if (sent_to_phone or 0) >= settings.sms_hourly_cap_per_phone:
        raise TooManyRequests(
            _("Too many codes were sent to this number. Please try again in an hour."),
            retry_after=3600,
            code="phone_hourly_cap",
        )
    sent_from_ip = await session.scalar(
        select(func.count()).where(SmsCode.ip == ip, SmsCode.created_at > hour_ago)
    )
    if (sent_from_ip or 0) >= settings.sms_hourly_cap_per_ip:
        raise TooManyRequests(
            _("Too many codes were requested from your network. Please try again in an hour."),
            retry_after=3600,
            code="ip_hourly_cap",
        )

    code = f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"
    session.add(
        SmsCode(
            phone=phone,
            ip=ip,
            code_hash=_code_hash(settings, phone, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.sms_code_ttl_seconds),
            attempts=0,
        )
    )
    minutes = settings.sms_code_ttl_seconds // 60
    outbox.enqueue(
        session,
        SMS_TOPIC,
        {
            "phone": phone,
            "text": _(
                "[Pocketshop] Your login code is %(code)s, valid for %(minutes)s minutes. "
                "Do not share it with anyone.",
                code=code,
                minutes=minutes,
            ),
            "secret_fields": ["text"],
        },
    )
    await session.flush()
    return SentCode(
        phone=phone,
        expires_in=settings.sms_code_ttl_seconds,
        resend_after=settings.sms_resend_seconds,
    )


async def verify_login_code(
    session: AsyncSession, settings: Settings, *, phone: str, code: str
) -> User:
    """Check the newest code for the phone and return the (possibly new) user."""
    phone = await consume_code(session, settings, phone=phone, code=code)
    user = await get_or_create_user(session, phone)
    user.last_login_at = clock.now()
    await session.flush()
    return user


async def consume_code(session: AsyncSession, settings: Settings, *, phone: str, code: str) -> str:
    """Check the newest code sent to the phone and use it up: the phone, normalised, proven to
    be the caller's."""
    phone = normalise_phone(phone, settings.default_phone_region)
    code = (code or "").strip()
    if len(code) != CODE_LENGTH or not code.isascii() or not code.isdigit():
        raise InvalidInput(_("The code has 6 digits."), code="invalid_code_format", field="code")

    now = clock.now()
    latest = await session.scalar(
        select(SmsCode).where(SmsCode.phone == phone).order_by(SmsCode.id.desc()).limit(1)
    )
    if latest is None or latest.consumed_at is not None:
        raise InvalidInput(
            _("No code was sent to this number. Please ask for a code first."),
            code="no_code",
            field="code",
        )
    locked = TooManyRequests(
        _("Too many wrong tries. Please ask for a new code."),
        retry_after=max(settings.sms_resend_seconds, 1),
        code="code_locked",
    )
    if latest.attempts >= settings.sms_code_max_attempts:
        raise locked
    if latest.expires_at <= now:
        raise InvalidInput(
            _("This code has expired. Please ask for a new one."), code="code_expired", field="code"
        )
    # Every try is counted BEFORE the code is compared, by one conditional UPDATE. Counting only
    # wrong tries after comparing let parallel requests that all read the count before any of
    # them wrote it be compared beyond the limit. Now they queue on the row, and a try that
    # finds no tries left is refused without being compared.
    counted = await session.execute(
        update(SmsCode)
        .where(SmsCode.id == latest.id, SmsCode.attempts < settings.sms_code_max_attempts)
        .values(attempts=SmsCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise locked
    if not hmac.compare_digest(latest.code_hash, _code_hash(settings, phone, code)):
        left = settings.sms_code_max_attempts - latest.attempts - 1
        raise InvalidInput(
            _("Wrong code. %(left)s tries left.", left=left)
            if left > 0
            else _("Wrong code. No tries left; please ask for a new code."),
            code="wrong_code",
            field="code",
            keep_changes=True,  # the counted try must survive the refused request
        )
    claimed = await session.execute(
        update(SmsCode)
        .where(SmsCode.id == latest.id, SmsCode.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput(
            _("This code was already used. Please ask for a new one."),
            code="code_used",
            field="code",
        )
    return phone


async def openid_of(session: AsyncSession, user_id: int, appid: str) -> str | None:
    """The user's openid in a WeChat app, if they signed in with it."""
    return await session.scalar(
        select(WeChatIdentity.openid).where(
            WeChatIdentity.user_id == user_id, WeChatIdentity.appid == appid
        )
    )


def require_phone(user: User) -> None:
    """Ordering (and opening a shop) needs a phone: someone signed in with WeChat binds one
    first (accounts.identities.bind_phone)."""
    if user.phone is None:
        raise Forbidden(
            _("Add your phone number first: the shop reaches you there about your order."),
            code="phone_required",
        )


async def get_or_create_user(session: AsyncSession, phone: str) -> User:
    user = await session.scalar(select(User).where(User.phone == phone))
    if user is not None:
        return user
    try:
        async with session.begin_nested():
            user = User(phone=phone, created_at=clock.now())
            session.add(user)
    except IntegrityError:
        # Another request created the same user at the same moment.
        user = await session.scalar(select(User).where(User.phone == phone))
        assert user is not None
    return user


async def set_operator(session: AsyncSession, phone: str, *, on: bool) -> User:
    """Make the user of this phone (created if new: they log in with it) a platform operator,
    or no longer one."""
    user = await get_or_create_user(session, phone)
    user.is_operator = on
    return user


async def operators(session: AsyncSession) -> list[User]:
    return list(
        await session.scalars(select(User).where(User.is_operator.is_(True)).order_by(User.id))
    )


async def is_operator(session: AsyncSession, user: User) -> bool:
    """Read now, not from a cached login: the role changes from the CLI, in another process."""
    return bool(await session.scalar(select(User.is_operator).where(User.id == user.id)))


async def start_session(
    session: AsyncSession, settings: Settings, user: User, kind: SessionKind
) -> tuple[str, AuthSession]:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    user.locale = get_locale()
    auth = AuthSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        kind=kind.value,
        created_at=now,
        expires_at=now + timedelta(days=settings.session_days),
    )
    session.add(auth)
    await session.flush()
    return token, auth


# Built once: every authenticated request needs it, and building a statement costs more
# CPU than running it.
_LOGIN_BY_TOKEN = (
    select(User, AuthSession.expires_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(
        AuthSession.token_hash == bindparam("token_hash"),
        AuthSession.kind == bindparam("kind"),
        AuthSession.revoked_at.is_(None),
    )
)


@dataclass(frozen=True)
class _Login:
    user: Mapping[str, Any]
    expires_at: datetime


def login_tag(token_hash: str) -> str:
    return f"login:{token_hash}"


async def user_for_token(session: AsyncSession, token: str, kind: SessionKind) -> User | None:
    """Who a token belongs to, if it is valid. Every authenticated request asks, so a valid
    login is kept in the cache; logging out, or a change to the user, drops it at commit."""
    login = await _login_for_token(session, token, kind)
    return None if login is None else db.attach(session, User, login.user)


async def user_id_for_token(session: AsyncSession, token: str, kind: SessionKind) -> int | None:
    """The id of whom a token belongs to, if it is valid: the same cached read as
    `user_for_token`, without making the user an object of the session."""
    login = await _login_for_token(session, token, kind)
    return None if login is None else int(login.user["id"])


async def _login_for_token(session: AsyncSession, token: str, kind: SessionKind) -> _Login | None:
    token_hash = _token_hash(token)

    async def read() -> tuple[_Login, list[str]] | None:
        found = (
            await session.execute(_LOGIN_BY_TOKEN, {"token_hash": token_hash, "kind": kind.value})
        ).first()
        if found is None:
            return None
        user, expires_at = found
        login = _Login(db.columns_of(user), expires_at)
        return login, [login_tag(token_hash), cache.user_tag(user.id)]

    login = await cache.read_through(session, ("login", token_hash, kind.value), read)
    if login is None or login.expires_at <= clock.now():
        return None
    return login


async def end_session(session: AsyncSession, token: str) -> None:
    token_hash = _token_hash(token)
    await session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == token_hash, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    cache.invalidate(session, login_tag(token_hash))


# A user changed through the ORM (a new login, too) drops their cached logins at commit; so
# does a login changed (revoked) through the ORM. `end_session` updates through Core and
# drops the tag itself.
cache.drop_on_change(User, lambda user: cache.user_tag(user.id))
cache.drop_on_change(AuthSession, lambda auth: login_tag(auth.token_hash))
