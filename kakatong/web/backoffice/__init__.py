"""The owner's back office: HTML pages for a tablet, one module per area.

auth (sign-in, first run, own password), trade (member transactions, receipts, settlement),
members (activation, card operations, the member list, import/export, levels), reports
(dashboard, statistics, journal, exports), admin (staff, terminals, settings, audit log),
branches (门店, a chain's),
offline (离线对账: the offline uploads and their resolution), system (系统状态),
backups (备份与恢复).
Views call the domain functions the API calls; none of them moves money itself.
"""

from flask import Blueprint

bp = Blueprint("backoffice", __name__)

# Each module adds its views to bp, so they are imported after it exists.
from . import auth, reports, admin, branches, trade, members, offline, system, backups  # noqa: E402, F401, I001
