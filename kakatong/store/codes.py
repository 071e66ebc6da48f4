"""The code tables: every coded value the database holds, written once, with its names.

The schema's CHECK constraints are built from these keys (models.py), so they live in the
store; the domain, the back office, the printer and the terminal page (which the server gives
them, `as_json`) all name a code from here. A name is Chinese, the message catalogue's msgid:
each page translates it where it shows it. `code` is the POS's English word where a slip
prints one beside the Chinese (储值消费 SALE).
"""

from __future__ import annotations

from typing import NamedTuple


class Name(NamedTuple):
    name: str  # 储值消费
    code: str = ""  # SALE


# The four transactions a terminal posts, in the order of the manual's menus.
TRANSACTION_TYPE_NAMES: dict[str, Name] = {
    "consume": Name("储值消费", "SALE"),
    "recharge": Name("储值充值", "RECHARGE"),
    "points_earn": Name("积分累加", "POINTS EARN"),
    "points_redeem": Name("积分消费", "POINTS REDEEM"),
}
# Every row of the journal: the four, a void, and an import's opening balance.
JOURNAL_TYPE_NAMES: dict[str, Name] = {
    **TRANSACTION_TYPE_NAMES,
    "void": Name("交易撤销", "VOID"),
    "opening": Name("期初导入"),
}
TRANSACTION_TYPES = tuple(TRANSACTION_TYPE_NAMES)
JOURNAL_TYPES = tuple(JOURNAL_TYPE_NAMES)
# The transactions whose amount is money (the others move points only).
MONEY_TYPES = frozenset({"consume", "recharge"})

JOURNAL_STATUS_NAMES: dict[str, Name] = {
    "success": Name("成功"),
    "voided": Name("已撤销"),
}
JOURNAL_STATUSES = tuple(JOURNAL_STATUS_NAMES)

# A recharge's payment method, in the order of the terminal's menu (1.现金 …).
PAYMENT_METHOD_NAMES: dict[str, Name] = {
    "cash": Name("现金"),
    "bank_card": Name("银行卡"),
    "wechat": Name("微信支付"),
    "alipay": Name("支付宝"),
    "other": Name("其他"),
}
PAYMENT_METHODS = tuple(PAYMENT_METHOD_NAMES)

CARD_STATUS_NAMES: dict[str, Name] = {
    "inactive": Name("未激活"),
    "active": Name("正常"),
    "frozen": Name("已冻结"),
    "lost": Name("已挂失"),
}
CARD_STATUSES = tuple(CARD_STATUS_NAMES)

# An offline upload's outcome (离线对账): applied to the ledger, or failed and open until it is
# applied on a retry, recorded as paid another way, or written off.
OFFLINE_STATUS_NAMES: dict[str, Name] = {
    "applied": Name("已入账"),
    "failed": Name("待对账"),
    "paid_other": Name("已另行收款"),
    "written_off": Name("已核销"),
}
OFFLINE_STATUSES = tuple(OFFLINE_STATUS_NAMES)
# The transactions a terminal may make offline (the manual's 离线储值消费, 离线积分累加).
OFFLINE_TYPES = ("consume", "points_earn")

# Who may do what with each role is domain/actors.py.
ROLE_NAMES: dict[str, Name] = {
    "operator": Name("操作员"),
    "supervisor": Name("主管"),
    "sysadmin": Name("系统操作员"),
    "owner": Name("店主"),
}
ROLES = tuple(ROLE_NAMES)

GENDER_NAMES: dict[str, Name] = {
    "male": Name("男"),
    "female": Name("女"),
    "secret": Name("保密"),
}
GENDERS = tuple(GENDER_NAMES)

TABLES: dict[str, dict[str, Name]] = {
    "journal_types": JOURNAL_TYPE_NAMES,
    "journal_statuses": JOURNAL_STATUS_NAMES,
    "payment_methods": PAYMENT_METHOD_NAMES,
    "card_statuses": CARD_STATUS_NAMES,
    "roles": ROLE_NAMES,
    "genders": GENDER_NAMES,
    "offline_statuses": OFFLINE_STATUS_NAMES,
}


def as_json() -> dict:
    """The tables for a page's script: {table: {code: {"name": …, "code": …}}}, in order, and
    the four transactions (`transaction_types`) and which of them move money (`money_types`)."""
    tables: dict = {
        table: {key: value._asdict() for key, value in names.items()}
        for table, names in TABLES.items()
    }
    tables["transaction_types"] = list(TRANSACTION_TYPES)
    tables["money_types"] = [kind for kind in TRANSACTION_TYPES if kind in MONEY_TYPES]
    return tables
