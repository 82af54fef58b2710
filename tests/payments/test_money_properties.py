"""A stateful property test of the money path: hypothesis drives orders through any sequence
of what buyers, shops, providers and time do (pay, a notice sent twice, a second payment, a
payment after the order closed, confirm, auto-confirm, refunds in every window, a provider
refusing a refund, settlement, withdrawals, a bank refusing a payout) and after every step
the money must add up (tests.payments.invariants): the ledger's invariants, no guarded
balance below zero, every payment captured once or returned, refunds never above what was
paid, nothing left in the escrow of a finished order.

CI runs a bounded number of examples; a longer run, by one command:

    POCKETSHOP_PROPERTY_EXAMPLES=300 .venv/bin/pytest tests/payments/test_money_properties.py
"""

import asyncio
import os
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from pocketshop import clock, jobs
from pocketshop.accounts.models import User
from pocketshop.app import create_app
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.errors import AppError
from pocketshop.orders import actions, addresses, checkout, shipping
from pocketshop.orders import service as orders
from pocketshop.orders.checkout import LineRequest
from pocketshop.orders.models import Order
from pocketshop.payments import calls, notices, sandbox, service, withdrawals
from pocketshop.payments.models import Payment
from pocketshop.payments.providers import (
    Channel,
    RefundRequest,
    RefundResult,
    RefundState,
)
from pocketshop.shops.models import Shop
from tests.commerce import ADDRESS, make_buyer, make_merchant, make_product
from tests.payments.invariants import problems
from tests.payments.money import second_payment

EXAMPLES = int(os.environ.get("POCKETSHOP_PROPERTY_EXAMPLES", "12"))
PRICE = 9900


class World:
    """One app and event loop for all the examples of a run (orders pile up across them;
    the invariants hold for all of them at every step)."""

    def __init__(self, app_settings: Settings) -> None:
        self.runner = asyncio.Runner()
        self.app: FastAPI = create_app(app_settings)
        self.db: Database = self.app.state.db
        self.settings = app_settings
        self.providers = self.app.state.payments.providers
        self.refusing = False
        self.runner.run(self._start())

    async def _start(self) -> None:
        merchant = await make_merchant(self.app)
        self.shop: Shop = merchant.shop
        self.owner = merchant.user
        self.sku = (await make_product(self.app, self.shop, price=PRICE, stock=100_000)).skus[0]
        self.buyers = [(await make_buyer(self.app)).user for _ in range(3)]
        sandbox_provider = self.providers["sandbox"]
        refund = sandbox_provider.refund

        async def refund_or_refuse(request: RefundRequest) -> RefundResult:
            if self.refusing:
                return RefundResult(RefundState.refused, failure="account frozen")
            return await refund(request)

        sandbox_provider.refund = refund_or_refuse

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        """Run a step; a refusal (an AppError) is an answer like any other."""
        try:
            return self.runner.run(work)
        except AppError:
            return None

    def close(self) -> None:
        self.runner.run(self.app.state.runtime.close())
        self.runner.close()


class MoneyMachine(RuleBasedStateMachine):
    world: World
    orders = Bundle("orders")

    @initialize()
    def fresh_clock(self) -> None:
        clock.reset()

    @rule(target=orders, buyer=st.integers(0, 2), units=st.integers(1, 3))
    def order(self, buyer: int, units: int) -> str:
        world = self.world

        async def place() -> str:
            async with world.db.transaction() as session:
                user = await session.get_one(User, world.buyers[buyer].id)
                created = await checkout.create(
                    session,
                    world.settings,
                    user,
                    world.shop,
                    lines=[LineRequest(world.sku.public_id, units)],
                    address=addresses.AddressInput(**ADDRESS),
                )
                return created.order.number

        return world.run(place()) or ""

    @rule(number=orders)
    def pay(self, number: str) -> None:
        world = self.world

        async def paid() -> None:
            buyer = await self._order_field(number, Order.buyer_id)
            await calls.pay_in_sandbox(world.db, world.settings, world.providers, buyer, number)

        world.run(paid())

    @rule(number=orders, times=st.integers(1, 2))
    def pay_by_notice(self, number: str, times: int) -> None:
        """The buyer pays on the provider's page; its notice comes (again, when twice)."""
        world = self.world

        async def notified() -> None:
            payment = await self._open_payment(number)
            if payment is None:
                return
            async with world.db.transaction() as session:
                trade = await sandbox.buyer_acts(session, payment.out_trade_no, pay=True)
            if trade is None or trade.state != "SUCCESS":
                return
            notice = await world.providers["sandbox"].query(payment.out_trade_no)
            for _ in range(times):
                kept = await notices.keep(world.db, "sandbox", notice, b"{}")
                await notices.act_on(world.db, world.settings, world.providers, kept)

        world.run(notified())

    @rule(number=orders)
    def second_payment(self, number: str) -> None:
        """Another payment of the order, paid: it pays the order if it still waits, else
        it goes back."""
        world = self.world

        async def paid_again() -> None:
            made = await second_payment(world.app, await self._order_field(number, Order.id))
            if made is None:
                return
            async with world.db.transaction() as session:
                await sandbox.buyer_acts(session, made.out_trade_no, pay=True)
            await calls.advance_payment(world.db, world.settings, world.providers, made.id)

        world.run(paid_again())

    @rule(number=orders)
    def ship(self, number: str) -> None:
        world = self.world

        async def shipped() -> None:
            async with world.db.transaction() as session:
                await shipping.ship(
                    session,
                    world.settings,
                    world.shop,
                    number,
                    carrier="SF",
                    tracking_number="SF1234567890123",
                    user_id=world.owner.id,
                )

        world.run(shipped())

    @rule(number=orders)
    def confirm(self, number: str) -> None:
        world = self.world

        async def confirmed() -> None:
            buyer_id = await self._order_field(number, Order.buyer_id)
            async with world.db.transaction() as session:
                buyer = await session.get_one(User, buyer_id)
                await actions.confirm_receipt(session, world.settings, buyer, number)

        world.run(confirmed())

    @rule(number=orders)
    def cancel(self, number: str) -> None:
        world = self.world

        async def cancelled() -> None:
            buyer_id = await self._order_field(number, Order.buyer_id)
            async with world.db.transaction() as session:
                buyer = await session.get_one(User, buyer_id)
                await actions.cancel_by_buyer(session, world.settings, buyer, number)

        world.run(cancelled())

    @rule(number=orders, share=st.sampled_from([1, 25, 50, 100]))
    def refund(self, number: str, share: int) -> None:
        world = self.world

        async def refunded() -> None:
            order_id = await self._order_field(number, Order.id)
            async with world.db.transaction() as session:
                order = await orders.get(session, order_id)
                await service.refund_by_merchant(
                    session,
                    world.settings,
                    order,
                    amount=max(order.total * share // 100, 1),
                    reason="property",
                    idempotency_key=None,
                )

        world.run(refunded())

    @rule(refusing=st.booleans())
    def provider_refuses_refunds(self, refusing: bool) -> None:
        self.world.refusing = refusing

    @rule(minutes=st.sampled_from([1, 31, 60 * 24 + 1, 60 * 24 * 7 + 1, 60 * 24 * 10 + 1]))
    def time_passes(self, minutes: int) -> None:
        """Timeouts, auto-confirmation, settlement, retries: whatever falls due runs."""
        clock.advance(timedelta(minutes=minutes))
        world = self.world
        world.run(jobs.run_due(world.db, world.app.state.runtime.sweeps))

    @rule()
    def outbox(self) -> None:
        self.world.run(self.world.app.state.dispatch_outbox())

    @rule(amount=st.sampled_from([100, 1044, 5000, 20_000]))
    def withdraw(self, amount: int) -> None:
        """Amounts ending in 44 fen the sandbox bank refuses."""
        world = self.world

        async def withdrawn() -> None:
            async with world.db.transaction() as session:
                owner = await session.get_one(User, world.owner.id)
                await withdrawals.request(session, world.settings, world.shop, owner, amount)

        world.run(withdrawn())

    @invariant()
    def money_adds_up(self) -> None:
        assert self.world.runner.run(problems(self.world.db)) == []

    async def _order_field(self, number: str, column: Any) -> int:
        """An order's id or buyer's id, by its number."""
        async with self.world.db.transaction(write=False) as session:
            found = await session.scalar(select(column).where(Order.number == number))
        if found is None:
            raise AppError("no such order")
        return int(found)

    async def _open_payment(self, number: str) -> Payment | None:
        world = self.world
        buyer_id = await self._order_field(number, Order.buyer_id)
        async with world.db.transaction() as session:
            buyer = await session.get_one(User, buyer_id)
            opened = await service.open_payment(
                session,
                world.settings,
                world.providers,
                buyer,
                number,
                provider_name="sandbox",
                channel=Channel.page,
                client_ip="127.0.0.1",
            )
        await calls.prepay(world.providers, opened)
        return opened.payment


def test_money_always_adds_up(settings: Settings) -> None:
    world = World(settings)
    MoneyMachine.world = world
    try:
        run_state_machine_as_test(
            MoneyMachine,
            settings=settings_for_run(),
        )
    finally:
        world.close()
        clock.reset()


def settings_for_run() -> Any:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=EXAMPLES <= 12,  # CI: the same examples every run
    )
