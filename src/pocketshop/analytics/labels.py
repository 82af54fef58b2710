"""The words for what the dashboard and the exports show, translated where they are shown."""

from pocketshop.i18n import N_, _

SOURCE_LABELS = {
    "direct": N_("Direct"),
    "share": N_("Customer's share"),
    "store": N_("Store"),
    "staff": N_("Staff"),
    "campaign": N_("Campaign link"),
}


def source_label(source: str) -> str:
    return _(SOURCE_LABELS.get(source, source))


def percent(basis_points: int | None) -> str:
    """320 -> '3.2%'; no figure -> '–'."""
    if basis_points is None:
        return "–"
    whole, tenths = divmod((basis_points + 5) // 10, 10)
    return f"{whole}.{tenths}%"
