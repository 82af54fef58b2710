"""The request transaction boundary, shared dependencies, and the API/page router factories."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask, BackgroundTasks

from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.web.security import require_csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TransactionalRoute(APIRoute):
    """Every route runs in one transaction, committed before the response leaves.

    Work queued in the outbox during the request is handed to the dispatcher after commit.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            db: Database = request.app.state.db
            async with db.transaction(write=request.method not in SAFE_METHODS) as session:
                request.state.session = session
                response = await handler(request)
                queued_outbox = bool(session.info.get("outbox_queued"))
            if queued_outbox:
                _run_after(response, request.app.state.dispatch_outbox)
            return response

        return run_in_transaction


def _run_after(response: Response, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
    if response.background is None:
        response.background = BackgroundTask(task)
    else:
        tasks = BackgroundTasks([response.background])
        tasks.add_task(task)
        response.background = tasks


def api_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=TransactionalRoute, **kwargs)


def page_router(**kwargs: Any) -> APIRouter:
    """HTML routes: hidden from the OpenAPI schema, CSRF-checked on every unsafe method."""
    dependencies = [Depends(require_csrf), *kwargs.pop("dependencies", [])]
    return APIRouter(
        route_class=TransactionalRoute,
        include_in_schema=False,
        dependencies=dependencies,
        **kwargs,
    )


def get_session(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(get_settings)]
