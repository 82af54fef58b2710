"""A page that shows a refused service call's error does so after a rollback, through one
mechanism: every `except AppError` in a page module guards a body that runs in
`attempt(session)` (a savepoint rolled back on refusal) or, in a route that opens its own
transactions, starts with `unit(request)` (rolled back when it raises). So the request's
commit never keeps what a refused call half wrote."""

import ast
from pathlib import Path

import pocketshop

SOURCE = Path(pocketshop.__file__).parent


def page_modules() -> list[Path]:
    return sorted(
        path
        for path in SOURCE.rglob("*.py")
        if path.name.endswith("pages.py") or path.name == "console_groups.py"
    )


def guards_app_errors(node: ast.Try) -> bool:
    return any(
        isinstance(handler.type, ast.Name) and handler.type.id == "AppError"
        for handler in node.handlers
    )


def rolled_back(body: list[ast.stmt]) -> bool:
    first = body[0]
    if not isinstance(first, ast.AsyncWith):
        return False
    opened = ast.unparse(first.items[0].context_expr)
    if opened.startswith("attempt("):
        return len(body) == 1
    return opened.startswith("unit(")


def test_every_refusal_a_page_shows_is_rolled_back_first() -> None:
    unguarded = []
    checked = 0
    for path in page_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Try) and guards_app_errors(node):
                checked += 1
                if not rolled_back(node.body):
                    unguarded.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert checked >= 20  # the walk found the pages' forms
    assert unguarded == []


def test_the_check_sees_a_page_that_would_commit_a_refused_call() -> None:
    committing = ast.parse(
        "async def f():\n"
        "    try:\n"
        "        await service.confirm(session)\n"
        "    except AppError as error:\n"
        "        return error\n"
    )
    tried = next(node for node in ast.walk(committing) if isinstance(node, ast.Try))
    assert guards_app_errors(tried)
    assert not rolled_back(tried.body)
