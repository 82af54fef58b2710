"""Money: integer minor units and a currency, immutable, never mixed across currencies."""

from dataclasses import dataclass
from typing import Self

DEFAULT_CURRENCY = "CNY"
MINOR_UNITS = {"CNY": 2}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        # bool is an int; a float or Decimal here is a bug upstream, not a rounding question.
        if type(self.amount) is not int:
            raise TypeError(f"Money amount must be an int of minor units, not {self.amount!r}")

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Self:
        return cls(0, currency)

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {other!r}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> "Money":
        if type(factor) is not int:
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: "Money") -> bool:
        self._same(other)
        return self.amount >= other.amount

    def format(self) -> str:
        """'¥12.30' for CNY: a display string, never parsed back."""
        places = MINOR_UNITS.get(self.currency, 2)
        sign = "-" if self.amount < 0 else ""
        whole, part = divmod(abs(self.amount), 10**places)
        symbol = "¥" if self.currency == "CNY" else f"{self.currency} "
        return f"{sign}{symbol}{whole}.{part:0{places}d}" if places else f"{sign}{symbol}{whole}"


def format_fen(amount: int, currency: str = DEFAULT_CURRENCY) -> str:
    return Money(amount, currency).format()


def yuan_text(fen: int | None) -> str:
    """'12.30' for 1230 fen: the amount as a form field or a spreadsheet cell shows it."""
    return format_fen(fen).lstrip("¥") if fen is not None else ""


def parse_yuan(text: str) -> int | None:
    """'12.3' -> 1230 fen; None when it is not a plain non-negative amount with ≤ 2 decimals.
    Parsed as text, never through float."""
    value = text.strip().replace("¥", "").replace(",", "")
    whole, _dot, part = value.partition(".")
    if not whole.isascii() or not whole.isdigit() or len(whole) > 10:
        return None
    if part and (not part.isascii() or not part.isdigit() or len(part) > 2):
        return None
    if _dot and not part:
        return None
    return int(whole) * 100 + int(part.ljust(2, "0") or 0)
