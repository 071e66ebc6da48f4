"""Who acts, and who may do what: the actor every writing domain function takes, and the role
sets that the API, the back office and the domain check a role against.

The roles themselves, with their names, are a code table (store/codes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.codes import ROLES
from ..store.models import Staff

ALL_ROLES = frozenset(ROLES)
CAN_TRANSACT = frozenset({"operator", "supervisor", "owner"})
CAN_READ_JOURNAL = frozenset({"supervisor", "owner"})
CAN_CHANGE_SETTINGS = frozenset({"sysadmin", "owner"})
CAN_MANAGE_STAFF = frozenset({"supervisor", "owner"})
# A member's details after activation (name, gender, birthday, ID number, level, expiry): those
# who read the member's page, the shop's managers. The PIN and the phone stay the holder's
# (bind, change_pin with the PIN; reset_pin with the supervisor's authority).
CAN_EDIT_MEMBERS = frozenset({"supervisor", "owner"})
# 离线对账: the shop's managers resolve a failed offline upload (retry, paid another way, write
# off) and read the list.
CAN_RECONCILE = frozenset({"supervisor", "owner"})
OWNER_ONLY = frozenset({"owner"})
# 门店: the branches, read by those who read the journal by branch and those who put
# terminals in them.
CAN_LIST_BRANCHES = CAN_READ_JOURNAL | CAN_CHANGE_SETTINGS


@dataclass(frozen=True)
class Actor:
    """Who is acting, and at which terminal: what every domain function that writes takes."""

    staff_id: int | None
    staff_no: str
    role: str
    terminal_pk: int | None
    terminal_id: str | None
    name: str = ""
    address: str | None = None  # the client's IP address, for the audit log


def actor_of(staff: Staff, address: str | None = None) -> Actor:
    """A staff member acting for themselves, at no terminal (a password change)."""
    return Actor(staff.id, staff.staff_no, staff.role, None, None, staff.name, address)
