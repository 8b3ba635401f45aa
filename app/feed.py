"""Case updates as an Atom feed (RFC 4287), written by feedgen rather than by hand, so that the
XML is well-formed and escaped whatever staff type."""

from collections.abc import Sequence
from datetime import UTC, datetime, time

from feedgen.feed import FeedGenerator

from app.rich_text import first_line, linkify, plain_text
from app.storage.models import CaseUpdate
from app.storage.operations import in_language


def _stamp(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; every stamp here was written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def atom_feed(
    updates: Sequence[CaseUpdate], *, title: str, page_url: str, feed_url: str, lang: str
) -> bytes:
    """The updates, latest first, each as escaped HTML with its links (see app/rich_text.py)."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(title)
    feed.link(href=page_url, rel="alternate")
    feed.link(href=feed_url, rel="self")
    feed.language(lang)
    stamps = [_stamp(u.created_at) for u in updates]
    feed.updated(max(stamps, default=datetime(2000, 1, 1, tzinfo=UTC)))
    for update in reversed(updates):  # feedgen puts the entry added last first
        entry = feed.add_entry()
        entry.id(f"{page_url}#update-{update.id}")
        # cleaned again for updates stored before texts were cleaned: one control character
        # left the whole feed unwritable, in every language
        text = plain_text(in_language(update.text, lang))
        entry.title(f"{update.posted_on.isoformat()}: {first_line(text)}")
        entry.link(href=f"{page_url}#update-{update.id}")
        entry.published(datetime.combine(update.posted_on, time(), tzinfo=UTC))
        entry.updated(_stamp(update.created_at))
        entry.content(str(linkify(text)), type="html")
    return feed.atom_str(pretty=True)
