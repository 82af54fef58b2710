"""A guest's attribution lives in a signed cookie (`ps_src`): per shop, the source whose link
they followed first and when. At login it becomes the buyer's binding in each shop, dated from
that first visit (attribution.bindings), and the cookie is cleared."""

from datetime import UTC, datetime

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.accounts.models import User
from pocketshop.attribution import bindings
from pocketshop.attribution.models import SourceKind
from pocketshop.config import Settings
from pocketshop.shops.models import Shop
from pocketshop.web import cookies

COOKIE = "ps_src"
MAX_SHOPS = 20  # the most recent ones; the cookie stays small
Entry = tuple[str, int, int]  # kind, the source's id, when the link was followed (epoch s)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secrets.secret_key, salt="pocketshop.guest-source")


def read(request: Request) -> dict[int, Entry]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = _serializer(_settings(request)).loads(raw)
    except BadSignature:
        return {}
    found: dict[int, Entry] = {}
    if isinstance(data, dict):
        for shop_id, entry in data.items():
            if (
                isinstance(shop_id, str)
                and shop_id.isdigit()
                and isinstance(entry, list)
                and len(entry) == 3
                and entry[0] in SourceKind.__members__
                and all(type(part) is int for part in entry[1:])
            ):
                found[int(shop_id)] = (entry[0], entry[1], entry[2])
    return found


def _live(settings: Settings, entry: Entry) -> bool:
    return entry[2] + settings.referral_days * 24 * 3600 > clock.now().timestamp()


def remember(
    request: Request, response: Response, shop: Shop, kind: SourceKind, ref_id: int
) -> None:
    """The guest followed a source's link: theirs unless an earlier one still holds."""
    settings = _settings(request)
    entries = {key: entry for key, entry in read(request).items() if _live(settings, entry)}
    if shop.id in entries:
        return  # the first binding wins
    entries[shop.id] = (kind.value, ref_id, int(clock.now().timestamp()))
    newest = sorted(entries.items(), key=lambda item: item[1][2])[-MAX_SHOPS:]
    value = _serializer(settings).dumps({str(key): list(entry) for key, entry in newest})
    cookies.keep(response, settings, COOKIE, value, days=settings.referral_days)


async def bind_at_login(
    session: AsyncSession, request: Request, response: Response, user: User
) -> None:
    """Called by every login form: the guest's sources become the buyer's bindings."""
    if COOKIE not in request.cookies:
        return
    settings = _settings(request)
    for shop_id, (kind, ref_id, followed) in read(request).items():
        shop = await session.get(Shop, shop_id)
        if shop is None:
            continue
        source = await bindings.resolve(session, shop, SourceKind(kind), ref_id)
        if source is not None:
            at = datetime.fromtimestamp(followed, UTC)
            await bindings.bind(session, settings, shop, user, source, at=at)
    cookies.forget(response, settings, COOKIE)
