"""How the JSON API's schema states the rules on text that people type.

A limit of N characters counts what a person sees: grapheme clusters, so 👩‍👩‍👧‍👦 (seven
code points) is one character (pocketshop.text). JSON Schema's maxLength counts code points
and cannot say that, so each such field states two things:

- `maxLength`: a hard cap of 4 code points per character (text.code_point_cap), enforced at
  the boundary as written, so the schema's bound is exact;
- `format: "text-N"`: a single line of at most N characters as seen, after the service's
  cleaning (invisible controls dropped, white space folded, NFC). A text within maxLength
  but over N characters, or empty once cleaned, is refused with 422 by the service.

Generators (schemathesis, scripts/contract-fuzz) register a strategy for each `text-N`
format, so the texts they send as valid are valid (tests/web/contract.py).
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import Field

from pocketshop.text import code_point_cap

TEXT_FORMAT = "text-{limit}"
PHONE_FORMAT = "mobile-phone"


def text(limit: int, *, optional: bool = False, **kwargs: Any) -> Any:
    """A field of one line of text of at most `limit` characters (1 or more unless
    `optional`, whose default is "")."""
    if optional:
        kwargs.setdefault("default", "")
    cap = code_point_cap(limit)
    rule = (
        f"At most {limit} characters as a person counts them (grapheme clusters), "
        f"and at most {cap} code points."
    )
    described = kwargs.pop("description", None)
    return Field(
        min_length=0 if optional else 1,
        max_length=cap,
        description=f"{described}. {rule}" if described else rule,
        json_schema_extra={"format": TEXT_FORMAT.format(limit=limit)},
        **kwargs,
    )


def phone(**kwargs: Any) -> Any:
    """A mainland China mobile number, as typed: '13800138000', '+86 138 0013 8000'."""
    return Field(max_length=32, json_schema_extra={"format": PHONE_FORMAT}, **kwargs)


def links(status: int, **targets: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """`openapi_extra` naming the operations an answer leads to (OpenAPI links): name ->
    (operationId, {parameter: runtime expression}). Clients and stateful testing follow them,
    e.g. an order to its payment, a payment to its refund."""
    return {
        "responses": {
            str(status): {
                "links": {
                    name: {"operationId": operation, "parameters": parameters}
                    for name, (operation, parameters) in targets.items()
                }
            }
        }
    }


# Changes a generated schema in place: `components.schemas` by model name, `paths`, ...
SchemaRule = Callable[[dict[str, Any]], None]


def state_deployment_rules(app: FastAPI, *rules: SchemaRule) -> None:
    """Have the schema the app serves state rules that depend on how it is deployed (which
    payment providers it offers, its smallest withdrawal), which models cannot say: applied
    once, when FastAPI first generates the schema (its documented way of extending it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # kept by FastAPI as app.openapi_schema
        for rule in rules:
            rule(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
