"""Source tokens: what an attributed link or QR code carries (`/s/<slug>/go/<token>`).

A token names the shop, what brought the visitor (a store, a staff member, a campaign link, a
customer who shared) and where the link leads (the shop's home or one product). It is signed
with the app's secret and dated: a tampered token, one signed by another key, one made for
another shop or older than `referral_link_days` is no token at all, and the visitor lands on
the shop unattributed. Ids are the internal ones, kept short for the QR code; the signature,
not their secrecy, is what makes them trustworthy.
"""

from dataclasses import dataclass

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from pocketshop import clock
from pocketshop.attribution.models import SourceKind
from pocketshop.config import Settings

SALT = "pocketshop.source"
# One letter each, to keep QR codes small.
_CODES = {
    SourceKind.store: "s",
    SourceKind.staff: "t",
    SourceKind.campaign: "c",
    SourceKind.share: "u",
}
_KINDS = {code: kind for kind, code in _CODES.items()}


@dataclass(frozen=True)
class Link:
    shop_id: int
    kind: SourceKind
    ref_id: int  # the store's, staff member's, campaign's or sharing user's id
    product_id: int | None = None  # where it leads; None: the shop's home


class _ClockSigner(TimestampSigner):
    # Dated by pocketshop.clock, so that tests move time instead of waiting for it.
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secrets.secret_key, salt=SALT, signer=_ClockSigner)


def make(settings: Settings, link: Link) -> str:
    payload = [link.shop_id, _CODES[link.kind], link.ref_id, link.product_id or 0]
    return str(_serializer(settings).dumps(payload))


def read(settings: Settings, token: str) -> Link | None:
    """The link the token stands for, or None: tampered, expired, or not one of ours."""
    try:
        payload = _serializer(settings).loads(
            token, max_age=settings.referral_link_days * 24 * 3600
        )
    except BadData:
        return None
    if not (isinstance(payload, list) and len(payload) == 4):
        return None
    shop_id, code, ref_id, product_id = payload
    numbers = (shop_id, ref_id, product_id)
    if code not in _KINDS or not all(type(number) is int and number >= 0 for number in numbers):
        return None
    return Link(shop_id, _KINDS[code], ref_id, product_id or None)
