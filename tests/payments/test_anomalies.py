"""What did not match our books reaches the operator: `pocketshop payments anomalies` lists
the open ones with the payment and order they concern; `pocketshop payments resolve ID`
closes one, once."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from pocketshop import cli
from pocketshop.db import Database
from pocketshop.payments import anomalies
from tests.payments.money import notification, notify, sandbox_trade
from tests.payments.test_notifications import paid_at_the_sandbox


async def wrong_amount_notice(app: FastAPI, client: httpx.AsyncClient) -> tuple[str, str]:
    number, out_trade_no = await paid_at_the_sandbox(app, client)
    trade = await sandbox_trade(app, out_trade_no)
    body, headers = notification(app, trade, amount={"total": 1, "currency": "CNY"})
    assert (await notify(client, body, headers)).status_code == 200
    return number, out_trade_no


async def test_the_operator_lists_and_resolves_anomalies(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    number, out_trade_no = await wrong_amount_notice(app, client)
    monkeypatch.setenv("DATABASE_URL", db.url)

    async def command(*args: str) -> int:
        code: int = await asyncio.to_thread(cli.main, ["payments", *args])
        return code

    assert await command("anomalies") == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2, printed
    line = printed[0]
    assert "sandbox amount_mismatch (open)" in line
    assert f"payment {out_trade_no} order {number}" in line
    assert '"amount": 1' in line
    assert '"expected_amount": 19800' in line
    assert printed[1] == "payments: 1 open anomalies"

    anomaly_id = int(line.split()[0].removeprefix("#"))
    assert await command("resolve", str(anomaly_id)) == 0
    assert capsys.readouterr().out.strip() == f"payments: anomaly #{anomaly_id} resolved"
    assert await command("anomalies") == 0
    assert capsys.readouterr().out.strip() == "payments: 0 open anomalies"
    assert await command("anomalies", "--all") == 0
    assert "(resolved " in capsys.readouterr().out

    # Twice, or a number that is no anomaly: refused in the site's language, nothing changed.
    assert await command("resolve", str(anomaly_id)) == 1
    assert capsys.readouterr().err.strip() == f"payments: 支付异常 #{anomaly_id} 之前已处理。"
    monkeypatch.setenv("POCKETSHOP_DEFAULT_LOCALE", "en")
    assert await command("resolve", "999999") == 1
    assert capsys.readouterr().err.strip() == "payments: No payment anomaly #999999."
    async with db.transaction(write=False) as session:
        listed = await anomalies.listed(session, include_resolved=True)
    assert [(one.anomaly.id, one.order_number) for one in listed] == [(anomaly_id, number)]


async def test_an_anomaly_is_resolved_once_by_two_operators_at_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    await wrong_amount_notice(app, client)
    async with db.transaction(write=False) as session:
        (one,) = await anomalies.listed(session)

    async def resolve() -> str:
        try:
            async with db.transaction() as session:
                await anomalies.resolve(session, one.anomaly.id)
        except anomalies.Conflict as refused:
            return refused.code
        return "resolved"

    assert sorted(await asyncio.gather(resolve(), resolve())) == ["resolved", "resolved_before"]
