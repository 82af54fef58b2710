"""Money is integer minor units with a currency: never a float, never mixed across currencies;
amounts typed by people are parsed as text."""

from decimal import Decimal

import pytest

from pocketshop.money import CurrencyMismatch, Money, format_fen, parse_yuan


def test_arithmetic_in_one_currency() -> None:
    assert Money(1050) + Money(250) == Money(1300)
    assert Money(1050) - Money(2000) == Money(-950)
    assert Money(333) * 3 == Money(999)
    assert 3 * Money(333) == Money(999)
    assert -Money(5) == Money(-5)
    assert Money.zero() == Money(0, "CNY")
    assert Money(1) < Money(2) <= Money(2)
    assert Money(3) > Money(2) >= Money(2)
    assert sum([Money(1), Money(2)], Money.zero()) == Money(3)
    assert len({Money(1), Money(1), Money(2)}) == 2


def test_currencies_never_mix() -> None:
    cny, usd = Money(100), Money(100, "USD")
    assert cny != usd
    for combine in (
        lambda: cny + usd,
        lambda: cny - usd,
        lambda: cny < usd,
        lambda: cny <= usd,
        lambda: cny > usd,
        lambda: cny >= usd,
    ):
        with pytest.raises(CurrencyMismatch):
            combine()


@pytest.mark.parametrize("amount", [1.5, 1.0, Decimal("1"), "100", True, None])
def test_only_integer_amounts(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount)  # type: ignore[arg-type]


def test_no_floats_or_plain_numbers_in_arithmetic() -> None:
    with pytest.raises(TypeError):
        Money(100) * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(100) * True
    with pytest.raises(TypeError):
        Money(100) + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(100) < 200  # type: ignore[operator]  # noqa: B015


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(1234), "¥12.34"),
        (Money(5), "¥0.05"),
        (Money(0), "¥0.00"),
        (Money(100), "¥1.00"),
        (Money(-5), "-¥0.05"),
        (Money(-123456), "-¥1234.56"),
        (Money(100_000_000_000), "¥1000000000.00"),
        (Money(199, "USD"), "USD 1.99"),
    ],
)
def test_format(money: Money, shown: str) -> None:
    assert money.format() == shown


def test_format_fen() -> None:
    assert format_fen(1234) == "¥12.34"
    assert format_fen(0) == "¥0.00"
    with pytest.raises(TypeError):
        format_fen(12.34)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.3", 1230),
        ("12.34", 1234),
        ("12", 1200),
        ("0", 0),
        ("0.01", 1),
        (" 0.5 ", 50),
        ("¥99.90", 9990),
        ("1,234.56", 123456),
        ("007", 700),
        ("9999999999.99", 999999999999),
        ("19.99", 1999),  # the float 19.99 * 100 is 1998.9999999999998
        ("0.29", 29),  # and 0.29 * 100 is 28.999999999999996
    ],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        ".",
        "12.",
        ".5",
        "12.345",
        "-1",
        "+1",
        "1e3",
        "1_000",
        "12.3.4",
        "nan",
        "inf",
        "abc",
        "１２",
        "12.３",
        "²",
        "12 34",
        "12345678901",
        "0x10",
    ],
)
def test_parse_yuan_refuses(text: str) -> None:
    assert parse_yuan(text) is None
