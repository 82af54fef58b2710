"""The templates' gettext gives exactly what Jinja's own newstyle gettext gives (translated,
trusted as markup, `%`-formatted with escaped variables, even with none), in both languages;
it only keeps what a message without variables comes to."""

import pytest
from jinja2 import Environment, select_autoescape

from pocketshop import i18n
from pocketshop.web import templating

TEMPLATES = [
    '{{ _("Add to cart") }}',
    '{{ _("Only %(count)s left", count=3) }}',
    '{{ _("Only %(count)s left", count="<b>4</b>") }}',
    '{{ _("Shop at %(name)s", name=shop) }}',
    '{{ _("100%% cotton") }}',
    "{% trans %}Sold out{% endtrans %}",
    "{% trans n=2 %}Only {{ n }} left{% endtrans %}",
]


def jinja_own() -> Environment:
    env = Environment(
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    return env


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("source", TEMPLATES)
def test_as_jinja_gives_it(locale: str, source: str) -> None:
    context = {"shop": "A & B <店>"}
    i18n.set_locale(locale)
    try:
        expected = jinja_own().from_string(source).render(context)
        for _twice in range(2):  # the second time from what was kept
            assert templating.environment.from_string(source).render(context) == expected
    finally:
        i18n.set_locale(i18n.DEFAULT_LOCALE)


def test_a_translated_message_is_translated() -> None:
    i18n.set_locale("zh_CN")
    try:
        shown = templating.environment.from_string('{{ _("Add to cart") }}').render()
    finally:
        i18n.set_locale(i18n.DEFAULT_LOCALE)
    assert shown == i18n.translations("zh_CN").ugettext("Add to cart") != "Add to cart"
