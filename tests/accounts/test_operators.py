"""Operators are made and unmade from the CLI (`pocketshop operators`), in the database the
server reads; a phone not known yet gets the account it will log in with."""

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import cli
from pocketshop.accounts.models import User
from pocketshop.db import Database
from tests.commerce import make_buyer


async def operator_phones(db: Database) -> set[str]:
    async with db.transaction(write=False) as session:
        return set(await session.scalars(select(User.phone).where(User.is_operator.is_(True))))


async def test_operators_are_added_listed_and_removed_from_the_cli(
    app: FastAPI, db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    known = await make_buyer(app)
    monkeypatch.setenv("DATABASE_URL", db.url)

    async def command(*args: str) -> int:
        code: int = await asyncio.to_thread(cli.main, ["operators", *args])
        return code

    assert await command("add", known.user.phone) == 0
    assert await command("add", "136 0013 6000") == 0  # as people write it; new to us
    assert await operator_phones(db) == {known.user.phone, "+8613600136000"}
    assert await command("remove", known.user.phone) == 0
    capsys.readouterr()
    assert await command("list") == 0
    assert capsys.readouterr().out.split() == ["+8613600136000"]
    assert await operator_phones(db) == {"+8613600136000"}
    assert await command("add", "12345") == 1  # not a phone: refused, nothing changed
    assert "operators:" in capsys.readouterr().err
    assert await operator_phones(db) == {"+8613600136000"}
