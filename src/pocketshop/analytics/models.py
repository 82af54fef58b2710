"""Analytics: storefront page views (a visitor once a day per page), and the daily rollups
the dashboard, the API and the exports read — never orders or raw views.

A rollup row is derived data: the job (analytics.rollup) deletes a shop's day and writes it
again from the page views and the orders paid that day, so a rollup is always what its
sources say, whatever ran before.
"""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from pocketshop.db import Base, UTCDateTime
from pocketshop.orders.models import Order


class Page(StrEnum):
    """Which storefront page was seen; `target_id` says which one of its kind."""

    home = "home"  # the shop's home (any group, search or page of it): target 0
    product = "product"  # a product page: the product's id
    request = "request"  # a payment request's page: the request's id


# What a view or an order came through: attribution.SourceKind, or none of them.
DIRECT = "direct"
SOURCES = (DIRECT, "share", "store", "staff", "campaign")


class PageView(Base):
    """One visitor on one page of a shop on one day (the shop's): a second view that day
    writes nothing. `visitor` is a day-salted hash of the address and browser (no cookie,
    and nothing that names anyone once the day is over)."""

    __tablename__ = "page_views"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    page: Mapped[str] = mapped_column(String(8), primary_key=True)
    target_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    visitor: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(12))


class ShopDay(Base):
    """A shop's day: views and visitors of its pages; orders paid that day, their buyers and
    what they paid (turnover: the orders' totals, shipping included, in fen)."""

    __tablename__ = "analytics_shop_days"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(Integer)
    visitors: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    buyers: Mapped[int] = mapped_column(Integer)
    turnover: Mapped[int] = mapped_column(BigInteger)


class SourceDay(Base):
    """The same, per source (SOURCES): views by the source of the visitor's binding, orders
    by the source they were placed through."""

    __tablename__ = "analytics_source_days"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(12), primary_key=True)
    views: Mapped[int] = mapped_column(Integer)
    visitors: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    buyers: Mapped[int] = mapped_column(Integer)
    turnover: Mapped[int] = mapped_column(BigInteger)


class ProductDay(Base):
    """A product's day: views and visitors of its page; paid orders with it, units sold and
    their line totals (turnover)."""

    __tablename__ = "analytics_product_days"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    views: Mapped[int] = mapped_column(Integer)
    visitors: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    turnover: Mapped[int] = mapped_column(BigInteger)


class StaleDay(Base):
    """A shop's day whose page views changed since its rollup: written with each flush of
    views (`changes` counts them), taken away by the rollup that saw them all."""

    __tablename__ = "analytics_stale_days"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    changes: Mapped[int] = mapped_column(Integer)


class Progress(Base):
    """How far the rollup job has looked at orders paid: each round looks again from a
    little before, so an order committed late is not missed."""

    __tablename__ = "analytics_progress"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)


# Orders paid, for the rollups: by shop and time (a shop's day), and by time alone (which
# shops had orders paid since the last round). Only paid orders are in them, so placing an
# order pays nothing for them.
_PAID = Order.paid_at.is_not(None)
Index(
    "ix_orders_shop_paid_at",
    Order.shop_id,
    Order.paid_at,
    postgresql_where=_PAID,
    sqlite_where=_PAID,
)
Index("ix_orders_paid_at", Order.paid_at, postgresql_where=_PAID, sqlite_where=_PAID)
