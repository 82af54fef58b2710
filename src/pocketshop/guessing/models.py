from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base


class LookupMiss(Base):
    """Lookups that found nothing, counted per asker (`u:<user id>` or `ip:<address>`) in
    fixed windows. The window comes first in the key: the check reads one window's rows, and
    the sweep drops whole windows that have ended."""

    __tablename__ = "lookup_misses"

    # The window's start, in seconds since the epoch (UTC): an integer the sweep hands round.
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asker: Mapped[str] = mapped_column(String(64), primary_key=True)
    misses: Mapped[int] = mapped_column(Integer)
