"""Jinja2 with gettext: one environment; each domain keeps its templates in <domain>/templates."""

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, PrefixLoader, select_autoescape
from markupsafe import Markup

from pocketshop import __version__, i18n
from pocketshop.accounts.service import display_phone
from pocketshop.errors import AppError
from pocketshop.regions import picker
from pocketshop.web import flash
from pocketshop.web.security import CSRF_FIELD, csrf_token, set_pending_cookies

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_DOMAINS = (
    "web",
    "accounts",
    "shops",
    "catalog",
    "orders",
    "payments",
    "aftersales",
    "notifications",
    "attribution",
    "customers",
)


def _build_environment() -> Environment:
    env = Environment(
        loader=PrefixLoader(
            {
                domain: FileSystemLoader(PACKAGE_DIR / domain / "templates")
                for domain in TEMPLATE_DOMAINS
            }
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals.update(
        gettext=gettext,  # in place of the ones just installed (see gettext)
        _=gettext,
        version=__version__,
        csrf_field=CSRF_FIELD,
        region_picker=picker.region_picker,
        qr_data_uri=qr_data_uri,
        qr_src=qr_src,
    )
    env.filters["phone"] = phone
    return env


def gettext(message: str, /, **variables: Any) -> str:
    """`{{ _("…") }}` as Jinja's newstyle gettext does it in this always-escaping environment
    (translated, trusted as markup, `%`-formatted with the escaped variables, even with none),
    with what a message without variables comes to kept per locale: a page shows a hundred,
    and Jinja's way of doing it cost a third of the page's render."""
    if variables:
        return _trusted(i18n.translations(i18n.get_locale()).ugettext(message)) % variables
    return _constant(i18n.get_locale(), message)


@lru_cache(maxsize=4096)
def _constant(locale: str, message: str) -> Markup:
    return _trusted(i18n.translations(locale).ugettext(message)) % {}


def _trusted(translated: str) -> Markup:
    # The catalogue's messages are ours, as Jinja's own gettext trusts them.
    return Markup(translated)  # noqa: S704


def form_page(request: Request) -> str | None:
    """For a page drawn in answer to a form post (a refusal shown at its field, the region
    picker without JavaScript): the page the form was sent from, which posted.js puts in the
    post's place in the history, so that refresh and Back load it instead of posting the form
    again. Taken from the Referer, this site's only; its one-time `done` notice left out."""
    if request.method != "POST":
        return None
    sent_from = urlsplit(request.headers.get("referer", ""))
    if sent_from.netloc != request.url.netloc or not sent_from.path.startswith("/"):
        return None
    return flash.without_notice(sent_from.path + (f"?{sent_from.query}" if sent_from.query else ""))


def qr_data_uri(link: str) -> str:
    """`{{ qr_data_uri(url) }}`: a QR code of `url` as an SVG data URI, drawn into the page
    itself (no request of its own, nothing for the page cache to miss)."""
    return str(segno.make(link, error="m").svg_data_uri(scale=4, border=2))


def qr_src(link: str) -> str:
    """`{{ qr_src(url) }}`: where the QR code of `url` is drawn (sharing.pages.qr_code), for
    an image the browser fetches when it shows it."""
    return "/qr.svg?" + urlencode({"link": link})


def phone(number: str | None) -> str:
    """`{{ order.phone|phone }}`: every page shows a phone one way, the buyer's and the
    merchant's alike (accounts.service.display_phone: '138 0013 8000')."""
    return display_phone(number) if number else ""


environment = _build_environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    error: AppError | None = None,
    csrf: str | None = None,
) -> HTMLResponse:
    """Render a page; with `error`, in its status and with its headers (a 429's Retry-After),
    and the error available to the template. `csrf` replaces the visitor's token (the page
    cache renders a placeholder that each answer fills in)."""
    state = request.state
    html = environment.get_template(template).render(
        request=request,
        locale=i18n.get_locale(),
        html_lang="zh-CN" if i18n.get_locale() == "zh_CN" else "en",
        csrf_token=csrf if csrf is not None else csrf_token(request),
        current_user=getattr(state, "user", None),
        messages_unread=getattr(state, "unread", 0),
        owns_shop=getattr(state, "owns_shop", False),
        dev_inbox=request.app.state.settings.dev_inbox_enabled,
        form_page=form_page(request),
        error=error,
        **(context or {}),
    )
    response = HTMLResponse(html, status_code=error.status_code if error else status_code)
    response.headers.update(error.headers if error else {})
    response.headers["Cache-Control"] = "no-store"
    if csrf is None:
        set_pending_cookies(request, response)
    return response
