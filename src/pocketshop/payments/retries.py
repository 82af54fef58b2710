"""How often an operation not final yet (a refund, a payout, a payment, a stored notice) is
taken up again: doubling from a minute to four hours while its tries settle nothing; at the
cap it is shown to the operator as an anomaly, and from then on tried once a day. Never given
up in silence."""

from datetime import datetime, timedelta

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


def reached_cap(attempts: int) -> bool:
    """This try was the last before the operator is told (once: the cap is passed once)."""
    return attempts == CAP
