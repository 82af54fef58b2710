"""How often an operation not final yet (a refund, a payout, a payment, a stored notice) is
taken up again: doubling from a minute to four hours while its tries settle nothing; at the
cap it is shown to the operator as an anomaly, and from then on tried once a day. Never given
up in silence."""

from datetime import datetime, timedelta
from typing import Any

from pocketshop import clock

# About twelve hours of tries before an operator is told.
CAP = 10
FIRST = timedelta(minutes=1)
LONGEST = timedelta(hours=4)
AFTER_CAP = timedelta(days=1)


def next_try(attempts: int) -> datetime:
    """When to try again after `attempts` tries (1 or more) that settled nothing."""
    if attempts >= CAP:
        return clock.now() + AFTER_CAP
    wait: timedelta = min(FIRST * 2 ** max(attempts - 1, 0), LONGEST)
    return clock.now() + wait


def tried(row: Any, due: str = "query_after") -> bool:
    """One more try of `row` (a payment, refund, withdrawal or stored notice) settled
    nothing: its attempts counted and its next try set (the `due` column). True when this
    try reached the cap: the operator is to be told now (once, as the cap is passed once)."""
    row.attempts += 1
    setattr(row, due, next_try(row.attempts))
    return bool(row.attempts == CAP)
