"""The API keeps the contract its OpenAPI schema states: schemathesis generates requests
from /openapi.json (valid and invalid ones), calls the app in-process as a merchant and as a
buyer, and checks every answer (status documented, body shaped as documented, valid data
accepted, invalid data refused, no 5xx). A fixed seed and bounded examples keep CI
repeatable and within minutes; scripts/contract-fuzz runs the same with many more."""

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi

from pocketshop.app import create_app
from pocketshop.config import Settings
from pocketshop.ledger import service as ledger
from tests.commerce import ADDRESS
from tests.web.contract import PRICE, Cast, cast, pay_in_sandbox, register_formats

# Bounded for CI (about a minute on each database); scripts/contract-fuzz raises them.
EXAMPLES = int(os.environ.get("POCKETSHOP_CONTRACT_EXAMPLES", "8"))
STATEFUL_SCENARIOS = int(os.environ.get("POCKETSHOP_CONTRACT_SCENARIOS", "60"))
STATEFUL_STEPS = int(os.environ.get("POCKETSHOP_CONTRACT_STEPS", "10"))
SEED = 20261204

ACCEPTS = schemathesis.checks.positive_data_acceptance
MISSING_HEADER = schemathesis.checks.missing_required_header
# Where the schema cannot state a rule, a valid-looking request may be refused with 422; each
# is named here with the rule, so the list shrinks as the schema learns to say more.
NOT_CHECKED: dict[str, tuple[list[Any], str]] = {
    "POST /api/v1/auth/tokens": ([ACCEPTS], "the code must be the one sent by SMS"),
    "POST /api/v1/me/shop/products": ([ACCEPTS], "SKUs must cover the spec matrix exactly"),
    "PUT /api/v1/me/shop/products/{product_id}": ([ACCEPTS], "as creating a product"),
    "POST /api/v1/me/shop/payment-requests": ([ACCEPTS], "products or an amount, not both"),
    "PUT /api/v1/me/shop/groups/order": ([ACCEPTS], "every group of the shop, once: 422"),
    # These find who is asking inside the handler, after the form is read: no Authorization
    # with a bad form answers 422 before 401 (accounts/deps, another change's area).
    "POST /api/v1/onboarding/shop": (
        [MISSING_HEADER, ACCEPTS],
        "auth checked after the form; an empty name gets the service's name_required",
    ),
    "POST /api/v1/me/shop/products/{product_id}/images": (
        [MISSING_HEADER, ACCEPTS],
        "auth checked after the form; no photo at all is refused",
    ),
    "POST /api/v1/me/shop/logo": ([ACCEPTS], "the file must be an image"),
    "POST /api/v1/me/addresses": (
        [ACCEPTS],
        "province, city and district: by adcodes that must nest (GET /api/v1/regions) or by name",
    ),
    "PUT /api/v1/me/addresses/{address_id}": ([ACCEPTS], "as adding an address"),
    "PUT /api/v1/me/shop/shipping-regions": (
        [ACCEPTS],
        "province adcodes from GET /api/v1/regions, each in one list at most",
    ),
    "POST /api/v1/aftersales/{case_id}/photos": (
        [MISSING_HEADER, ACCEPTS],
        "as a product's photos: auth checked after the form; no photo at all is refused",
    ),
}


@pytest.fixture
def contract_app(settings: Settings) -> Iterator[FastAPI]:
    # A contract run guesses order and payment numbers by design, and the stateful phase logs
    # a new cast in for each scenario; the limits on both have their own tests (tests/guessing,
    # tests/accounts), and here they would answer most calls 429.
    unlimited = {
        "lookup_misses_per_user": 10**9,
        "lookup_misses_per_ip": 10**9,
        "sms_hourly_cap_per_ip": 10**9,
    }
    application = create_app(settings.model_copy(update=unlimited))
    runtime = application.state.runtime
    runtime.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application))
    yield application
    # The app ran in schemathesis's event loop; it is shut down there, then checked.
    asgi.shutdown_lifespans()

    async def check() -> list[Any]:
        async with runtime.db.transaction(write=False) as session:
            problems = await ledger.check(session)
        await runtime.db.dispose()
        return problems

    assert asyncio.run(check()) == []


@pytest.fixture
def contract_cast(contract_app: FastAPI) -> Cast:
    return cast(contract_app)


@pytest.fixture
def contract_schema(contract_app: FastAPI, contract_cast: Cast) -> Any:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", contract_app)
    register_formats(loaded)
    # Unknown query parameters are ignored, as by most HTTP APIs (OpenAPI has no way to forbid
    # them); unknown body fields are refused (additionalProperties: false) and tested.
    loaded.config.generation.update(
        max_examples=EXAMPLES, deterministic=True, allow_extra_parameters=False
    )
    loaded.config.seed = SEED
    return loaded


@pytest.fixture(autouse=True)
def _node_id_for_subtests(request: pytest.FixtureRequest) -> None:
    # schemathesis names each operation's subtest by rewriting the private `_nodeid` that
    # pytest 9 no longer keeps as an attribute.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("contract_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_its_contract(case: schemathesis.Case, contract_cast: Cast) -> None:
    response = case.call(headers=contract_cast.auth_for(case.path))
    log_call(case, response.status_code)
    case.validate_response(response, excluded_checks=not_checked(case, response))


def test_order_pay_refund_sequences_keep_the_contract(
    contract_schema: Any, contract_app: FastAPI
) -> None:
    """Stateful phase: sequences that follow the schema's links (an order to its payment,
    its receipt, its cancellation; a payment to its refund), each answer checked."""
    # The money path: an order (to an address), its payment, receipt and refunds. The other
    # operations are covered above; here they would take most steps of a scenario.
    money = contract_schema.include(name=MONEY_PATH)
    # Valid steps only, so that scenarios get past the order: every operation's invalid
    # requests (and calls without a token or with a wrong one) are sent by the test above.
    money.config.phases.stateful.generation.update(modes=[GenerationMode.POSITIVE])
    workflow = workflow_for(money, contract_app)
    workflow.run(
        settings=settings(
            workflow.TestCase.settings,
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            database=None,
            deadline=None,
        )
    )
    # The walks went the whole way: orders placed, paid, and refunded by the merchant.
    for step in ("POST /api/v1/orders", PAY, REFUND):
        assert workflow.answers[step, 201] > 0, (step, sorted(workflow.answers.items()))


PAY = "POST /api/v1/orders/{number}/payments"
REFUND = "POST /api/v1/me/shop/orders/{number}/refunds"
MONEY_PATH = [
    "POST /api/v1/me/addresses",
    "POST /api/v1/orders",
    "GET /api/v1/orders/{number}",
    PAY,
    "POST /api/v1/payments/{payment_id}/refresh",
    "GET /api/v1/orders/{number}/receipt",
    REFUND,
    "GET /api/v1/me/shop/orders/{number}/refunds",
]


def not_checked(case: schemathesis.Case, response: Any) -> list[Any]:
    """The checks this answer is exempt from: its operation's (NOT_CHECKED), and acceptance
    when an Idempotency-Key generated twice came with another body (422, as the IETF draft
    on the header says: the key's earlier use is state, not something a schema can state)."""
    excluded, _why = NOT_CHECKED.get(case.operation.label, ([], ""))
    if response.status_code == 422 and "idempotency_key_reused" in response.text:
        return [*excluded, ACCEPTS]
    return excluded


def log_call(case: schemathesis.Case, status: int) -> None:
    """One line per request, for scripts/contract-fuzz's figures (when it asks for them)."""
    path = os.environ.get("POCKETSHOP_CONTRACT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{case.operation.label}\t{status}\n")


def workflow_for(loaded: Any, app: FastAPI) -> Any:
    """The schema's state machine, calling as the merchant or the buyer, placing orders for
    the cast's shop and product and paying them in the sandbox, so that the links lead
    somewhere (a refund needs a paid order). `answers` counts (operation, status).

    Each scenario has a cast of its own: Hypothesis replays the choices of one scenario in
    another and needs the same answers to them, which state left by earlier scenarios (an
    address deleted, a product's nine photos) would change."""

    class Workflow(loaded.as_state_machine()):  # type: ignore[misc]
        answers: ClassVar[Counter[tuple[str, int]]] = Counter()
        people: Cast

        def setup(self) -> None:
            self.people = cast(app)

        def before_call(self, case: schemathesis.Case) -> None:
            if not loaded.is_security_param_negated(case):  # a wrong token on purpose stays
                case.headers = {**(case.headers or {}), **self.people.auth_for(case.path)}
            negative = case.meta is not None and case.meta.generation.mode.is_negative
            if negative or not isinstance(case.body, dict):
                return
            if case.operation.label == "POST /api/v1/orders":
                case.body.update(
                    shop=self.people.shop_slug,
                    lines=[{"sku_id": self.people.sku_id, "quantity": 1}],
                    address=ADDRESS,
                    address_id=None,
                )
            elif case.operation.label == PAY:
                case.body.update(provider="sandbox", channel="page", openid="")
            elif case.operation.label == REFUND and isinstance(case.body.get("amount"), int):
                # Within an order's total, so that refunds are made (then refused when they
                # exceed what is left), not nearly all refused for amounts never paid.
                case.body["amount"] = 1 + (case.body["amount"] - 1) % PRICE

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            self.answers[case.operation.label, response.status_code] += 1
            if case.operation.label == PAY and response.status_code == 201:
                pay_in_sandbox(app, self.people.buyer, response.json())

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            log_call(case, response.status_code)
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=not_checked(case, response),
                transport_kwargs=kwargs or None,
                recorder=getattr(self, "recorder", None),
            )

    return Workflow
