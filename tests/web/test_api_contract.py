"""The API keeps the contract its OpenAPI schema states: schemathesis generates requests
from /openapi.json (valid and invalid ones), calls the app in-process as a merchant and as a
buyer, and checks every answer (status documented, body shaped as documented, valid data
accepted, invalid data refused, no 5xx). A fixed seed and bounded examples keep CI
repeatable and within minutes; scripts/contract-fuzz runs the same with many more."""

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from pocketshop.app import create_app
from pocketshop.config import Settings
from pocketshop.ledger import service as ledger
from tests.commerce import ADDRESS
from tests.web.contract import Cast, cast, register_formats

# Bounded for CI (about a minute on each database); scripts/contract-fuzz raises them.
EXAMPLES = int(os.environ.get("POCKETSHOP_CONTRACT_EXAMPLES", "8"))
STATEFUL_SCENARIOS = int(os.environ.get("POCKETSHOP_CONTRACT_SCENARIOS", "60"))
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
    "POST /api/v1/me/shop/withdrawals": ([ACCEPTS], "more than is available: 422, not 409"),
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
}


@pytest.fixture
def contract_app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
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
    excluded, _why = NOT_CHECKED.get(case.operation.label, ([], ""))
    response = case.call_and_validate(
        headers=contract_cast.auth_for(case.path), excluded_checks=excluded
    )
    log_call(case, response.status_code)


def test_order_pay_refund_sequences_keep_the_contract(
    contract_schema: Any, contract_cast: Cast
) -> None:
    """Stateful phase: sequences that follow the schema's links (an order to its payment,
    its receipt, its cancellation; a payment to its refund), each answer checked."""
    # The money path: orders, their payments and refunds, and the products they are made of
    # (the other operations are covered above, and would take most steps of a scenario).
    money = contract_schema.include(
        path_regex=r"^/api/v1/(orders|me/shop/orders|payments|shops/[^/]+/products|me/shop/products)"
    )
    workflow = workflow_for(money, contract_cast)
    workflow.run(
        settings=settings(
            workflow.TestCase.settings,
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
        )
    )


def log_call(case: schemathesis.Case, status: int) -> None:
    """One line per request, for scripts/contract-fuzz's figures (when it asks for them)."""
    path = os.environ.get("POCKETSHOP_CONTRACT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{case.operation.label}\t{status}\n")


def workflow_for(loaded: Any, people: Cast) -> Any:
    """The schema's state machine, calling as the merchant or the buyer, and placing orders
    for the cast's shop and product so that the links lead somewhere."""

    class Workflow(loaded.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            if not loaded.is_security_param_negated(case):  # a wrong token on purpose stays
                case.headers = {**(case.headers or {}), **people.auth_for(case.path)}
            negative = case.meta is not None and case.meta.generation.mode.is_negative
            if negative or not isinstance(case.body, dict):
                return
            if case.operation.label == "POST /api/v1/orders":
                case.body.update(
                    shop=people.shop_slug,
                    lines=[{"sku_id": people.sku_id, "quantity": 1}],
                    address=ADDRESS,
                    address_id=None,
                )
            elif case.operation.label == "POST /api/v1/orders/{number}/payments":
                case.body.update(provider="sandbox", channel="page", openid="")

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            excluded, _why = NOT_CHECKED.get(case.operation.label, ([], ""))
            log_call(case, response.status_code)
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=excluded,
                transport_kwargs=kwargs or None,
                recorder=getattr(self, "recorder", None),
            )

    return Workflow
