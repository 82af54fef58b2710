"""The shared layout lives in `web/`: a domain's pages may call other domains' services, but
never import another domain's pages (a page module's name ends in `pages`)."""

import ast
from pathlib import Path

import pocketshop

PACKAGE = Path(pocketshop.__file__).parent


def page_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.glob("*/*pages.py") if path.parent.name != "web")


def imported(path: Path) -> set[str]:
    """Every module the file imports, names imported from a package counted as modules."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_scan_sees_every_domains_pages() -> None:
    domains = {path.parent.name for path in page_modules()}
    assert {"catalog", "orders", "payments", "shops", "accounts", "aftersales"} <= domains


def test_no_domain_imports_another_domains_pages() -> None:
    crossing = []
    for path in page_modules():
        domain = path.parent.name
        for name in imported(path):
            parts = name.split(".")
            if (
                len(parts) >= 3
                and parts[0] == "pocketshop"
                and parts[1] not in (domain, "web")
                and parts[2].endswith("pages")
            ):
                crossing.append(f"{domain}/{path.name} imports {name}")
    assert crossing == []
