"""The ledger: balanced transactions only, each business event posted once, guarded accounts
never below zero (the move refused, nothing kept), and `check` finds any broken invariant."""

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update

from pocketshop import cli
from pocketshop.db import Database
from pocketshop.ledger import service as ledger
from pocketshop.ledger.models import LedgerAccount, LedgerTransaction
from pocketshop.ledger.service import Account, AccountKind
from pocketshop.money import Money
from tests.commerce import make_merchant
from tests.conftest import is_postgres
from tests.support import statements_run


def available(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_available, shop_id)


def pending(shop_id: int) -> Account:
    return Account.of_shop(AccountKind.merchant_pending, shop_id)


async def test_a_transaction_moves_money_once(app: FastAPI, db: Database) -> None:
    shop = (await make_merchant(app)).shop.id
    legs = [(ledger.clearing("sandbox"), Money(-500)), (pending(shop), Money(500))]
    async with db.transaction() as session:
        assert await ledger.post(session, kind="test", reference="event:1", legs=legs)
        assert not await ledger.post(session, kind="test", reference="event:1", legs=legs)
    async with db.transaction(write=False) as session:
        assert await ledger.balance(session, pending(shop)) == Money(500)
        assert await ledger.balance(session, ledger.clearing("sandbox")) == Money(-500)
        assert await ledger.balance(session, available(shop)) == Money(0)
        assert await ledger.check(session) == []


@pytest.mark.parametrize(
    "amounts",
    [[-500, 499], [0, 0], [500], []],
)
async def test_unbalanced_transactions_are_refused(
    app: FastAPI, db: Database, amounts: list[int]
) -> None:
    shop = (await make_merchant(app)).shop.id
    accounts = [ledger.clearing("sandbox"), pending(shop)]
    legs = [(account, Money(amount)) for account, amount in zip(accounts, amounts, strict=False)]
    with pytest.raises(ValueError, match=r"zero|postings"):
        async with db.transaction() as session:
            await ledger.post(session, kind="test", reference="bad", legs=legs)


async def test_currencies_balance_apart(app: FastAPI, db: Database) -> None:
    shop = (await make_merchant(app)).shop.id
    legs = [(ledger.clearing("sandbox"), Money(-500)), (pending(shop), Money(500, "USD"))]
    with pytest.raises(ValueError, match="zero"):
        async with db.transaction() as session:
            await ledger.post(session, kind="test", reference="mixed", legs=legs)


async def paid_in(db: Database, shop: int, amount: int) -> None:
    """`amount` into the shop's available money, from the sandbox's clearing account."""
    async with db.transaction() as session:
        await ledger.post(
            session,
            kind="test",
            reference="in",
            legs=[(ledger.clearing("sandbox"), Money(-amount)), (available(shop), Money(amount))],
        )


@pytest.mark.parametrize("made_first", ["available", "pending"])
async def test_a_guarded_account_never_goes_below_zero(
    app: FastAPI, db: Database, made_first: str
) -> None:
    """Balances move in account id order, the first with the transaction's own rows on
    PostgreSQL: the refused account may be the first to move, or a later one."""
    shop = (await make_merchant(app)).shop.id
    if made_first == "pending":
        async with db.transaction() as session:
            await ledger.post(
                session,
                kind="test",
                reference="made",
                legs=[(ledger.clearing("sandbox"), Money(-1)), (pending(shop), Money(1))],
            )
    await paid_in(db, shop, 300)
    with pytest.raises(ledger.InsufficientFunds):
        async with db.transaction() as session:
            await ledger.post(
                session,
                kind="test",
                reference="out",
                legs=[(available(shop), Money(-301)), (pending(shop), Money(301))],
            )
    async with db.transaction(write=False) as session:
        assert await ledger.balance(session, available(shop)) == Money(300)
        made = 1 if made_first == "pending" else 0
        assert await ledger.balance(session, pending(shop)) == Money(made)
        assert await ledger.check(session) == []


async def test_a_refused_post_writes_nothing_even_if_its_caller_commits(
    app: FastAPI, db: Database
) -> None:
    """The guards are checked before anything of the transaction is written: a caller that
    caught the refusal and let its boundary commit (as a page showing the error once did)
    keeps no half-written transaction, posting or balance."""
    shop = (await make_merchant(app)).shop.id
    await paid_in(db, shop, 300)
    refused = False
    async with db.transaction() as session:
        try:
            await ledger.post(
                session,
                kind="test",
                reference="out",
                legs=[(pending(shop), Money(301)), (available(shop), Money(-301))],
            )
        except ledger.InsufficientFunds:
            refused = True
    assert refused
    async with db.transaction(write=False) as session:
        assert await ledger.check(session) == []
        assert await ledger.balance(session, available(shop)) == Money(300)
        assert await ledger.balance(session, pending(shop)) == Money(0)
        posted = await session.scalars(select(LedgerTransaction.reference))
        assert list(posted) == ["in"]


async def test_check_finds_a_drifted_balance_and_a_lopsided_transaction(
    app: FastAPI,
    db: Database,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = (await make_merchant(app)).shop.id
    await paid_in(db, shop, 300)
    monkeypatch.setenv("DATABASE_URL", db.url)
    assert await asyncio.to_thread(cli.main, ["ledger", "check"]) == 0
    assert "every invariant holds" in capsys.readouterr().out

    async def corrupt(balance: int, posting: tuple[int, int]) -> None:
        async with db.transaction() as session:
            await session.execute(
                update(LedgerAccount)
                .where(LedgerAccount.kind == "merchant_available")
                .values(balance=balance)
            )
            await session.execute(
                text("UPDATE ledger_postings SET amount = :new WHERE amount = :old"),
                {"old": posting[0], "new": posting[1]},
            )

    await corrupt(299, (-300, -301))
    try:
        async with db.transaction(write=False) as session:
            problems = await ledger.check(session)
        assert await asyncio.to_thread(cli.main, ["ledger", "check"]) == 1
        printed = capsys.readouterr().err
    finally:
        await corrupt(300, (-301, -300))  # put right: the check after every test must pass
    assert len(problems) == 2
    assert "does not sum to zero" in problems[0]
    assert "caches 299, its postings sum to 300" in problems[1]
    assert printed.count("ledger: ") == 2


async def test_an_account_made_by_a_rolled_back_transaction_is_not_remembered(
    app: FastAPI, db: Database
) -> None:
    shop = (await make_merchant(app)).shop.id
    legs = [(ledger.clearing("sandbox"), Money(-500)), (pending(shop), Money(500))]

    async def post_then_fail() -> None:
        async with db.transaction() as session:
            assert await ledger.post(session, kind="test", reference="event:1", legs=legs)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await post_then_fail()
    # Had the ids of the accounts it made been kept, this post would name rows that are gone.
    async with db.transaction() as session:
        assert await ledger.post(session, kind="test", reference="event:1", legs=legs)
    async with db.transaction(write=False) as session:
        assert await ledger.balance(session, pending(shop)) == Money(500)


async def test_committed_accounts_are_found_once(app: FastAPI, db: Database) -> None:
    shop = (await make_merchant(app)).shop.id
    legs = [(ledger.clearing("sandbox"), Money(-500)), (pending(shop), Money(500))]
    for reference in ("event:1", "event:2"):  # made, then found and remembered
        async with db.transaction() as session:
            assert await ledger.post(session, kind="test", reference=reference, legs=legs)
    with statements_run(db) as statements:
        async with db.transaction() as session:
            assert await ledger.post(session, kind="test", reference="event:3", legs=legs)
    assert not [sql for sql in statements if sql.startswith("SELECT")], statements
    # The transaction, its postings (one statement with it on PostgreSQL), and the one
    # balance it moves (it takes from none).
    written = [sql for sql in statements if not sql.startswith("BEGIN")]  # SQLite: by hand
    assert len(written) == (2 if is_postgres() else 3), statements
    async with db.transaction(write=False) as session:
        assert await ledger.balance(session, pending(shop)) == Money(1500)


@pytest.mark.skipif(not is_postgres(), reason="row locks held across connections: PostgreSQL")
async def test_the_provider_clearing_account_is_not_locked_by_postings(
    app: FastAPI, db: Database
) -> None:
    """Every payment posts to its provider's clearing account, which keeps no balance: were
    its row updated, every capture would queue behind the one before until it commits."""
    shops = [(await make_merchant(app, f"店 {n}")).shop.id for n in range(2)]

    async def capture(shop: int, reference: str) -> None:
        async with db.transaction() as session:
            await ledger.post(
                session,
                kind="test",
                reference=reference,
                legs=[(ledger.clearing("sandbox"), Money(-100)), (pending(shop), Money(100))],
            )

    await capture(shops[0], "event:0")  # the clearing account exists
    async with db.transaction() as holder:
        await ledger.post(
            holder,
            kind="test",
            reference="event:1",
            legs=[(ledger.clearing("sandbox"), Money(-100)), (pending(shops[0]), Money(100))],
        )
        # Still open: another shop's capture does not wait for it.
        await asyncio.wait_for(capture(shops[1], "event:2"), timeout=5)


def escrow(order_id: int, shop_id: int) -> Account:
    return Account.of_order(AccountKind.order_escrow, order_id, shop_id)


async def test_an_account_a_posting_opens_starts_with_its_money(app: FastAPI, db: Database) -> None:
    """A payment's capture opens its order's escrow account: made with the money in it, no
    UPDATE after (the account, then the transaction with its postings: two statements on
    PostgreSQL, three on SQLite). Found again, an account is moved as usual."""
    shop = (await make_merchant(app)).shop.id
    earlier = [(ledger.clearing("sandbox"), Money(-100)), (escrow(9, shop), Money(100))]
    async with db.transaction() as session:  # the clearing account made and remembered
        assert await ledger.post(session, kind="test", reference="capture:0", legs=earlier)
    paid = [(ledger.clearing("sandbox"), Money(-9900)), (escrow(1, shop), Money(9900))]
    with statements_run(db) as statements:
        async with db.transaction() as session:
            assert await ledger.post(session, kind="test", reference="capture:1", legs=paid)
    written = [sql for sql in statements if not sql.startswith(("BEGIN", "SELECT"))]
    assert not [sql for sql in written if sql.startswith("UPDATE")], written
    assert len(written) == (2 if is_postgres() else 3), written
    again = [(ledger.clearing("sandbox"), Money(-100)), (escrow(1, shop), Money(100))]
    async with db.transaction() as session:
        assert await ledger.post(session, kind="test", reference="capture:2", legs=again)
    async with db.transaction(write=False) as session:
        assert await ledger.balance(session, escrow(1, shop)) == Money(10000)
        assert await ledger.check(session) == []


async def test_a_reference_posted_before_cannot_open_an_account(app: FastAPI, db: Database) -> None:
    """The first posting of a reference opens its accounts; a second one naming a new account
    is a mistake in the caller, refused whole (never a balance without its postings)."""
    shop = (await make_merchant(app)).shop.id
    first = [(ledger.clearing("sandbox"), Money(-500)), (escrow(1, shop), Money(500))]
    other = [(ledger.clearing("sandbox"), Money(-500)), (escrow(2, shop), Money(500))]
    async with db.transaction() as session:
        assert await ledger.post(session, kind="test", reference="capture:1", legs=first)
    with pytest.raises(RuntimeError, match="posted before"):
        async with db.transaction() as session:
            await ledger.post(session, kind="test", reference="capture:1", legs=other)
    async with db.transaction(write=False) as session:
        assert await ledger.balance(session, escrow(2, shop)) == Money(0)
        assert await ledger.check(session) == []
