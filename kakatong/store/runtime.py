"""What the domain needs from the configuration: the shop's time zone, the PIN pepper and the
key that opens offline PINs.

Set once at start (`configure`), read by the domain; no business state lives here.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

zone: ZoneInfo = ZoneInfo("Asia/Shanghai")
pepper: bytes = b""
# The private key (PEM) that opens the PINs terminals seal offline (domain/offline.py).
sealing_key: bytes = b""


def configure(shop_zone: ZoneInfo, pin_pepper: bytes, offline_key: bytes = b"") -> None:
    global zone, pepper, sealing_key
    zone, pepper, sealing_key = shop_zone, pin_pepper, offline_key


def pepper_mark() -> str:
    """A mark of the PIN pepper, kept in the database (meta `pepper_mark`): a database and a
    pepper that don't belong together are told apart without revealing the pepper."""
    return hmac.new(pepper, b"kakatong pepper mark", hashlib.sha256).hexdigest()[:16]


# The years a date typed anywhere may fall in: a day past either end cannot be computed with
# (date.max + 1 day) or moved between zones, and no card lives that long.
YEARS = range(1900, 9999)


def utcnow() -> datetime:
    """Now, as the database stores it: UTC without tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)


def local(moment: datetime) -> datetime:
    """A stored (UTC, naive) time in the shop's zone."""
    return moment.replace(tzinfo=UTC).astimezone(zone)


def shop_date(moment: datetime) -> date:
    """The settlement date of a stored time: its date in the shop's zone, whatever the host's."""
    return local(moment).date()


def to_utc(moment: datetime) -> datetime:
    """An aware time (or a naive one meant in the shop's zone) as the database stores it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).replace(tzinfo=None)
