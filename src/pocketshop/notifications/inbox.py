"""A notification as every inbox shows it, the API's and the page's alike: its texts in the
asker's language, where it leads, when it came and whether it was read."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.models import User
from pocketshop.config import Settings
from pocketshop.i18n import get_locale
from pocketshop.notifications import service
from pocketshop.notifications.channels import Message
from pocketshop.notifications.events import Event, render
from pocketshop.notifications.models import Notification


@dataclass(frozen=True)
class InboxRow:
    id: str
    event: Event
    title: str
    body: str
    link: str
    created_at: datetime
    # In the platform's time zone, as the texts' own times are.
    when: str
    read: bool

    @property
    def at(self) -> str:
        """ISO 8601, for <time datetime>."""
        return self.created_at.isoformat()


def message_of(settings: Settings, row: Notification) -> Message:
    """A notification's texts in the asker's language."""
    return render(Event(row.event), row.params, get_locale(), settings.default_timezone)


def row_of(settings: Settings, row: Notification) -> InboxRow:
    message = message_of(settings, row)
    return InboxRow(
        id=str(row.id),
        event=Event(row.event),
        title=message.title,
        body=message.body,
        link=message.link,
        created_at=row.created_at,
        when=row.created_at.astimezone(ZoneInfo(settings.default_timezone)).strftime(
            "%Y-%m-%d %H:%M"
        ),
        read=row.read_at is not None,
    )


async def inbox_page(
    session: AsyncSession, settings: Settings, user: User, page: int
) -> tuple[list[InboxRow], bool]:
    """A page of the user's inbox, newest first, and whether a next page has any."""
    rows, has_next = await service.inbox(session, user, page=page)
    return [row_of(settings, row) for row in rows], has_next
