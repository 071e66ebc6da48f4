"""The OpenAPI 3 document of /api/v1, served at /api/openapi.json.

Readable data built with a few helpers: `_op` for an operation, `_body` for a JSON request body,
`_ref` for a component. Formats, enums and limits are taken from the domain modules that
enforce them, and every error code an operation lists is looked up in `errors.ERRORS` (an
unknown code fails at build time), so the document states the status the code really answers.
Each operation's `x-error-codes` maps the codes it can answer to their HTTP status; `x-roles`
lists who may call it (empty for the calls that need no session).

docs/api.md is the human companion; tests/test_openapi.py checks both against the app.
"""

from __future__ import annotations

import copy

from ... import __version__
from ...domain.actors import CAN_CHANGE_SETTINGS, CAN_MANAGE_STAFF, CAN_READ_JOURNAL, CAN_TRANSACT
from ...domain.cards import ACTIVATION_TYPES, EXTERNAL_NO, ID_NUMBER, PHONE, PIN
from ...domain.errors import ERRORS
from ...domain.formats import CARD_NO, REQUEST_ID, SERVICE_CODE, TERMINAL_ID
from ...domain.ledger import MAX_POINTS
from ...domain.reports import MAX_PAGE_SIZE, MAX_RANGE_DAYS
from ...domain.staff import OPERATOR_NO, SUPERVISOR_NO
from ...domain.terminals import KEY_DIGITS, PRINTER_PARAMETERS
from ...store.codes import CARD_STATUSES, GENDERS, JOURNAL_TYPES, PAYMENT_METHODS, TRANSACTION_TYPES

ALL_ROLES = CAN_TRANSACT | CAN_READ_JOURNAL | CAN_CHANGE_SETTINGS | CAN_MANAGE_STAFF
ROLE_SETS = {
    "any signed-in role": ALL_ROLES,
    "CAN_TRANSACT": CAN_TRANSACT,
    "CAN_READ_JOURNAL": CAN_READ_JOURNAL,
    "CAN_CHANGE_SETTINGS": CAN_CHANGE_SETTINGS,
    "CAN_MANAGE_STAFF": CAN_MANAGE_STAFF,
}
PUBLIC = None  # `roles=PUBLIC`: no session needed

JSON = "application/json"


# ---------------------------------------------------------------- formats

MONEY = r"^-?(?:0|[1-9][0-9]*)\.[0-9]{2}$"  # money.format_fen: yuan, always two decimals
# money.parse_amount: up to two decimals, and not zero
AMOUNT = r"^(?:[1-9][0-9]*(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
SIX = "^[0-9]{6}$"  # trace and batch numbers; they wrap from 999999 to 000001
# staff.add_operator: two digits, not the supervisor's 00 nor the system operator's 99
NEW_OPERATOR_NO = f"^(?!(?:{SUPERVISOR_NO}|99)$)(?:{OPERATOR_NO.pattern})$"
TERMINAL_PASSWORD = "^[0-9]{4,8}$"  # staff.validate_new_password, all but the owner
TERMINAL_KINDS = ("pos", "backoffice")  # models.Terminal.kind
TERMINAL_KEY = f"^[0-9]{{{KEY_DIGITS}}}$"  # terminals.new_key


# ---------------------------------------------------------------- small helpers


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _full(regex) -> str:
    """A compiled domain regex (used with fullmatch) as an anchored OpenAPI pattern."""
    return f"^(?:{regex.pattern})$"


def _string(pattern: str | None = None, *, nullable: bool = False, **extra) -> dict:
    schema = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    if nullable:
        schema["nullable"] = True
    return schema


def _enum(values, *, nullable: bool = False, **extra) -> dict:
    schema = {"type": "string", "enum": list(values), **extra}
    if nullable:  # OpenAPI 3.0: a nullable enum must list null among its values
        schema["nullable"] = True
        schema["enum"].append(None)
    return schema


def _integer(minimum: int | None = None, maximum: int | None = None, **extra) -> dict:
    schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _object(properties: dict, required=(), *, closed: bool = True, **extra) -> dict:
    """An object schema; `closed` (additionalProperties false) where the code refuses or
    never sends other fields."""
    schema = {"type": "object", **extra, "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _money(description: str, *, nullable: bool = False) -> dict:
    return _string(MONEY, nullable=nullable, description=description, example="90.50")


def _date(description: str, *, nullable: bool = False) -> dict:
    return _string(None, nullable=nullable, format="date", description=description)


def _datetime(description: str) -> dict:
    return _string(None, format="date-time", description=description)


def _six(description: str, *, nullable: bool = True) -> dict:
    return _string(SIX, nullable=nullable, description=description, example="000001")


def _body(schema: dict, example: dict | None = None) -> dict:
    content = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"required": True, "content": {JSON: content}}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _param(name: str, where: str, schema: dict, description: str, required=False) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


def _path_card_no() -> dict:
    return _param("card_no", "path", _ref("CardNo"), "卡号, 8 to 19 digits")


def _path_operator_no() -> dict:
    return _param("operator_no", "path", _string(None), "员工号")


def _path_voucher_no() -> dict:
    return _param(
        "voucher_no",
        "path",
        _string("^[0-9]{1,9}$"),
        "凭证号 as printed on the slip (leading zeros may be kept or dropped)",
    )


# ---------------------------------------------------------------- components

_REQUEST_FORMATS = {
    "CardNo": _string(_full(CARD_NO), description="卡号 (card number): 8 to 19 ASCII digits."),
    "Pin": _string(
        f"^(?:{PIN.pattern})?$",  # "" is no PIN, like null
        nullable=True,
        description=(
            'The cardholder\'s PIN (持卡人密码): exactly 6 digits. null or "" for a card '
            "without a PIN; on a card that has one, a missing PIN is a wrong PIN."
        ),
    ),
    "Amount": _string(
        AMOUNT,
        description=(
            'Yuan as a STRING with at most two decimals ("90", "90.5", "90.50"); not '
            "zero, no sign, no leading zeros, not above the `single_limit_fen` setting. A JSON "
            "number is refused (`invalid_amount`): a float has already lost exactness."
        ),
        example="90.50",
    ),
    "Points": _integer(
        1,
        MAX_POINTS,
        description="Points as a JSON integer (not a string, not true/false).",
        example=100,
    ),
    "RequestId": _string(
        _full(REQUEST_ID),
        description=(
            "The caller's idempotency key, unique in the shop. Sent again with the same "
            "content it returns the original transaction (201, `Idempotent-Replayed: true`); "
            "with different content it is refused (`request_id_reused`). A refused request "
            "claims nothing: its id may be used again."
        ),
        example="pos1-20250301-0001",
    ),
    "ServiceCode": _string(
        f"^(?:{SERVICE_CODE.pattern})?$",
        nullable=True,
        description='服务代码 / 商品代码, optional: 1 to 20 letters or digits ("" = none).',
    ),
    "SupervisorPassword": _string(
        None,
        nullable=True,
        description=(
            "The supervisor's (主管, staff 00) password, typed at the terminal to authorise. "
            "Not needed when the caller is signed in as the owner, nor, for staff management, "
            "as the supervisor. Wrong ones count toward staff 00's password lock "
            "(`staff_locked`)."
        ),
    ),
}

_TRANSACTION_REQUESTS = {
    "ConsumeRequest": _object(
        {
            "type": _enum(["consume"]),
            "card_no": _ref("CardNo"),
            "amount": _ref("Amount"),
            "pin": _ref("Pin"),
            "service_code": _ref("ServiceCode"),
            "request_id": _ref("RequestId"),
        },
        ["type", "card_no", "amount", "request_id"],
        description=(
            "储值消费 (consume): `amount` is the price; the member level's discount gives what "
            "is paid and debited; points are awarded on what was paid (⌊paid × multiplier ÷ "
            "points_unit⌋)."
        ),
    ),
    "RechargeRequest": _object(
        {
            "type": _enum(["recharge"]),
            "card_no": _ref("CardNo"),
            "amount": _ref("Amount"),
            "payment_method": _enum(PAYMENT_METHODS, description="支付方式"),
            "pin": _ref("Pin"),
            "request_id": _ref("RequestId"),
        },
        ["type", "card_no", "amount", "payment_method", "request_id"],
        description="储值充值 (recharge): credits the balance; no points.",
    ),
    "PointsEarnRequest": _object(
        {
            "type": _enum(["points_earn"]),
            "card_no": _ref("CardNo"),
            "amount": _ref("Amount"),
            "points": _ref("Points"),
            "pin": _ref("Pin"),
            "service_code": _ref("ServiceCode"),
            "request_id": _ref("RequestId"),
        },
        ["type", "card_no", "request_id"],
        description=(
            "积分累加 (points_earn): exactly one of `amount` (a purchase paid some other way; "
            "points by the consume rule, `no_points` if that gives 0) or `points`."
        ),
        oneOf=[{"required": ["amount"]}, {"required": ["points"]}],
    ),
    "PointsRedeemRequest": _object(
        {
            "type": _enum(["points_redeem"]),
            "card_no": _ref("CardNo"),
            "points": _ref("Points"),
            "pin": _ref("Pin"),
            "service_code": _ref("ServiceCode"),
            "request_id": _ref("RequestId"),
        },
        ["type", "card_no", "points", "request_id"],
        description="积分消费 (points_redeem): debits points.",
    ),
}

_REQUEST_OF_TYPE = {
    "consume": "ConsumeRequest",
    "recharge": "RechargeRequest",
    "points_earn": "PointsEarnRequest",
    "points_redeem": "PointsRedeemRequest",
}

_ACTIVATION = _object(
    {
        "activation_type": _enum(
            ACTIVATION_TYPES,
            nullable=True,
            description=(
                "激活类型: what the member is known by (default card_no). external_no or phone:"
                " a member without a card of ours; that field is required, card_no is left out"
                " and the shop issues a 16-digit card number starting with 8"
            ),
        ),
        "card_no": _ref("CardNo"),
        "external_no": _string(
            _full(EXTERNAL_NO), nullable=True, description="外卡号, 1 to 32 letters or digits"
        ),
        "phone": _string(_full(PHONE), nullable=True, description="手机号码, 11 digits"),
        "name": _string(None, nullable=True, maxLength=40, description="holder's name"),
        "gender": _enum(GENDERS, nullable=True),
        "birthday": _date("YYYY-MM-DD, not after today", nullable=True),
        "id_number": _string(
            _full(ID_NUMBER),
            nullable=True,
            description="身份证号码: 18 characters (check digit verified) or 15 digits",
        ),
        "level": _string(
            None, nullable=True, description="会员等级 name; the first level when omitted"
        ),
        "expires_on": _date("会员有效期, YYYY-MM-DD, not before today", nullable=True),
        "pin": _ref("Pin"),
    },
    [],
    description=(
        '会员激活. Unknown fields are refused; "" counts as absent for the optional ones.'
        " card_no is required unless activation_type is external_no or phone."
    ),
)

_SETTING_PROPERTIES = {
    "points_unit_fen": _integer(1, 100_000_00, description="fen of spending per point"),
    "single_limit_fen": _integer(1, 1_000_000_00, description="单笔交易限额, in fen"),
    "pin_attempt_limit": _integer(1, 10, description="wrong PINs in a row that lock the PIN"),
    "pin_lock_minutes": _integer(1, 24 * 60, description="how long a PIN stays locked"),
    "password_attempt_limit": _integer(
        1, 20, description="wrong staff passwords in a row that lock the staff number"
    ),
    "password_lock_minutes": _integer(
        1, 24 * 60, description="how long a staff number stays locked"
    ),
    "enabled_types": {
        "type": "array",
        "items": _enum(TRANSACTION_TYPES),
        "uniqueItems": True,
        "description": "开通的交易类型",
    },
    "web_idle_minutes": _integer(
        5, 12 * 60, description="a back-office session ends after this many idle minutes"
    ),
    "captcha_always": {
        "type": "boolean",
        "description": "the back office's sign-in always asks for the captcha",
    },
    "merchant_id": _string("^[0-9]{15}$", description="商户号"),
    "merchant_name": _string(None, minLength=1, maxLength=40, description="商户名"),
    "receipt_title": _string(None, minLength=1, maxLength=40, description="签购单名"),
}

# terminals.PARAMETERS: the POS manual's terminal parameters (终端参数设置)
_TERMINAL_PARAMETERS = {
    "name": _string(
        r"\S", maxLength=40, description="终端名称, 1 to 40 characters (not only spaces; trimmed)"
    ),
    "receipt_copies": _integer(1, 2, description="签购单联数: 1 or 2 copies of each slip"),
    "standby_type": _enum(
        ["consume", "points_earn"],
        description="待机交易: 储值消费 or 积分累加 on the standby screen",
    ),
    "manual_entry": {"type": "boolean", "description": "手输卡号: card numbers may be typed"},
    "service_code_prompt": {
        "type": "boolean",
        "description": "服务代码: the terminal asks for a service code",
    },
    "next_trace_no": _integer(
        1, 999_999, description="流水号: the trace number the next transaction gets"
    ),
    "language": _enum(["zh", "en"], description="the terminal page's language"),
    "clear_journal_view": {
        "type": "boolean",
        "enum": [True],
        "description": "清流水: the terminal's transaction query (GET /api/v1/batch) lists nothing "
        "older than now; the batch's totals and the journal keep everything",
    },
    "printer_url": _string(
        None,
        maxLength=200,
        description="the receipt printer (小票打印机): `tcp://HOST:9100`, `usb://VID:PID`, "
        "`serial:///dev/ttyS0?baudrate=9600`, `file:///dev/usb/lp0`, `cups://QUEUE`, or `none`",
        example="tcp://192.168.1.50:9100",
    ),
    "printer_encoding": _enum(
        ["gb18030", "gbk", "utf-8"], description="the encoding the printer reads Chinese in"
    ),
    "printer_chinese_mode": {
        "type": "boolean",
        "description": "switch the printer's Chinese mode on (FS &) before each slip",
    },
    "paper_mm": {
        "type": "integer",
        "enum": [58, 80],
        "description": "paper width in mm: 32 or 48 columns",
    },
    "printer_image": {
        "type": "boolean",
        "description": "for printers without Chinese fonts: each slip is sent as a picture",
    },
    "printer_cut": {"type": "boolean", "description": "the printer has a cutter"},
}

_TERMINAL = {
    "terminal_id": _string(None, description="终端号"),
    "name": _string(None, description="终端名称"),
    "kind": _enum(TERMINAL_KINDS, description="a POS terminal or the back office"),
    "batch_no": _six("the open batch (批次号)", nullable=False),
    "next_trace_no": _six("流水号 the next transaction gets", nullable=False),
    "receipt_copies": _TERMINAL_PARAMETERS["receipt_copies"],
    "standby_type": _TERMINAL_PARAMETERS["standby_type"],
    "manual_entry": _TERMINAL_PARAMETERS["manual_entry"],
    "service_code_prompt": _TERMINAL_PARAMETERS["service_code_prompt"],
    "language": _TERMINAL_PARAMETERS["language"],
    "journal_view_from": {
        **_datetime("清流水: when the transaction query's list was last cleared (null: never)"),
        "nullable": True,
    },
    **{key: _TERMINAL_PARAMETERS[key] for key in PRINTER_PARAMETERS},
}

PRINT_KINDS = ("probe", "receipt", "reprint", "feed", "settlement", "journal", "totals", "test")
_PRINT_JOB = _object(
    {
        "id": _integer(1),
        "kind": _enum(PRINT_KINDS, description="what the job prints (probe: a connection test)"),
        "name": _string(None, description="its name on the terminal's screen"),
        "voucher_no": _six("the receipt's voucher (receipt and reprint only)"),
        "state": _enum(["queued", "printing", "printed", "failed", "skipped"]),
        "error": _string(None, nullable=True, description="why it failed"),
        "attempts": _integer(0),
    },
    ["id", "kind", "name", "voucher_no", "state", "error", "attempts"],
    nullable=True,
    description="A print job of the terminal's print queue (null: none yet).",
)

_RECORDS = {
    "Error": _object(
        {
            "error": _enum(ERRORS, description="stable code; see the x-error-codes of each call"),
            "message": _string(None, description="the Chinese sentence a screen shows"),
            "attempts_left": _integer(
                0, description="wrong_pin: how many more wrong PINs before the lock"
            ),
            "locked_until": _datetime("pin_locked: when the PIN unlocks (shop time)"),
            "field": _string(None, description="the request field or parameter at fault"),
            "fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "bad_request: the fields this transaction type does not take",
            },
            "setting": _string(
                None, description="invalid_setting: the setting or terminal parameter at fault"
            ),
            "minutes_left": _integer(
                1, description="staff_locked: minutes until passwords are taken again"
            ),
            "current_status": _enum(
                CARD_STATUSES, description="invalid_status_change: the card's status now"
            ),
        },
        ["error", "message"],
        description="Every refusal: `{error, message}` plus, for some codes, details.",
    ),
    "Level": _object(
        {
            "name": _string(None),
            "discount_pct": _integer(1, 100, description="88 = pays 88 % of the price"),
            "points_multiplier_pct": _integer(0, 10000, description="150 = points × 1.5"),
        },
        ["name", "discount_pct", "points_multiplier_pct"],
        nullable=True,
        description="会员等级 (member level); null on a card without one.",
    ),
    "Card": _object(
        {
            "card_no": _ref("CardNo"),
            "external_no": _string(None, nullable=True),
            "phone": _string(None, nullable=True),
            "name": _string(None, nullable=True),
            "gender": _enum(GENDERS, nullable=True),
            "birthday": _date("生日", nullable=True),
            "id_number": _string(None, nullable=True),
            "level": _ref("Level"),
            "expires_on": _date("会员有效期", nullable=True),
            "expired": {"type": "boolean", "description": "expires_on is before today"},
            "status": _enum(CARD_STATUSES),
            "has_pin": {"type": "boolean"},
            "pin_locked": {"type": "boolean", "description": "too many wrong PINs, for now"},
            "balance": _money("储值余额; only in the owner's view"),
            "points": _integer(0, description="可用积分; only in the owner's view"),
        },
        [
            "card_no",
            "external_no",
            "phone",
            "name",
            "gender",
            "birthday",
            "id_number",
            "level",
            "expires_on",
            "expired",
            "status",
            "has_pin",
            "pin_locked",
        ],  # fmt: skip
        description=(
            "A member card (会员卡) and its holder. `balance` and `points` are sent to the "
            "owner only; staff at the till learn them from POST /api/v1/cards/{card_no}/query "
            "with the holder's PIN."
        ),
    ),
    "Transaction": _object(
        {
            "type": _enum(JOURNAL_TYPES),
            "status": _enum(["success", "voided"], description="成功 / 已撤销"),
            "card_no": _ref("CardNo"),
            "amount": _money("the balance movement, signed: consume -88.00, recharge 100.00"),
            "points": _integer(description="the points movement, signed"),
            "balance": _money("the card's balance after this transaction"),
            "points_balance": _integer(0, description="the card's points after it"),
            "price": _money("consume: the price entered, before the discount", nullable=True),
            "purchase_amount": _money(
                "points_earn: the purchase paid some other way", nullable=True
            ),
            "trace_no": _six("流水号, per terminal; null for an opening entry"),
            "voucher_no": _string(
                "^[0-9]{6,}$",
                nullable=True,
                description="凭证号, shop-wide, at least six digits; quote it to void",
                example="000001",
            ),
            "reference_no": _string(
                "^[0-9]{12}$", nullable=True, description="参考号 REF.NO: hhmmss + voucher"
            ),
            "batch_no": _six("批次号"),
            "terminal_id": _string(None, nullable=True, description="终端号"),
            "operator_no": _string(None, nullable=True, description="操作员号"),
            "operator_name": _string(None, nullable=True),
            "created_at": _datetime("in the shop's time zone, with its offset"),
            "settle_date": _date("清算日期: the shop-local date"),
            "service_code": _string(None, nullable=True),
            "payment_method": _enum(PAYMENT_METHODS, nullable=True),
            "offline": {"type": "boolean"},
            "original_voucher_no": _string(
                None, nullable=True, description="a void: the voucher it reverses"
            ),
        },
        [
            "type",
            "status",
            "card_no",
            "amount",
            "points",
            "balance",
            "points_balance",
            "price",
            "purchase_amount",
            "trace_no",
            "voucher_no",
            "reference_no",
            "batch_no",
            "terminal_id",
            "operator_no",
            "operator_name",
            "created_at",
            "settle_date",
            "service_code",
            "payment_method",
            "offline",
            "original_voucher_no",
        ],  # fmt: skip
        description="One row of the journal (交易流水).",
    ),
    "TransactionPage": _object(
        {
            "transactions": {"type": "array", "items": _ref("Transaction")},
            "total": _integer(0, description="rows matching the filters, all pages"),
            "page": _integer(1),
            "per_page": _integer(1, MAX_PAGE_SIZE),
        },
        ["transactions", "total", "page", "per_page"],
        description="One page of the journal, newest first.",
    ),
    "DayStats": _object(
        {
            "date": _date("the settlement date (absent in the totals)"),
            "count": _integer(0, description="successful transactions, voided ones excluded"),
            "recharge_total": _money("储值充值 total"),
            "consume_total": _money("储值消费 total (what was debited)"),
            "balance_net": _money("储值沉淀: recharge_total - consume_total"),
            "points_awarded": _integer(0, description="积分奖励"),
            "points_redeemed": _integer(0, description="积分兑换"),
            "points_net": _integer(description="积分沉淀: awarded - redeemed"),
        },
        [
            "count",
            "recharge_total",
            "consume_total",
            "balance_net",
            "points_awarded",
            "points_redeemed",
            "points_net",
        ],  # fmt: skip
        description=(
            "交易统计 of one day or of a range. Voided transactions and their voids count "
            "nowhere; opening entries of an import count nowhere."
        ),
    ),
    "DailyStats": _object(
        {"days": {"type": "array", "items": _ref("DayStats")}, "totals": _ref("DayStats")},
        ["days", "totals"],
        description="One DayStats per date of the range (zeros included), and the totals.",
    ),
    "TypeTotals": _object(
        {
            "count": _integer(0),
            "amount": _money("sum of the signed amounts (consume is negative)"),
            "points": _integer(description="sum of the signed points"),
        },
        ["count", "amount", "points"],
    ),
    "Batch": _object(
        {
            "terminal_id": _string(None, description="终端号"),
            "batch_no": _six("批次号", nullable=False),
            "count": _integer(0, description="successful transactions of the batch"),
            "void_count": _integer(0, description="voids posted in the batch"),
            "types": _object(
                {kind: _ref("TypeTotals") for kind in TRANSACTION_TYPES},
                TRANSACTION_TYPES,
            ),
            "settled_at": _datetime("settlement only: when the batch was closed"),
            "settle_date": _date("settlement only: 清算日期"),
            "transactions": {
                "type": "array",
                "items": _ref("Transaction"),
                "maxItems": MAX_PAGE_SIZE,
                "description": (
                    f"GET /api/v1/batch only: the batch's journal, newest first (at most "
                    f"{MAX_PAGE_SIZE} rows)"
                ),
            },
        },
        ["terminal_id", "batch_no", "count", "void_count", "types"],
        description=(
            "A terminal's batch (批次) totals by transaction type, as settlement (结算) prints "
            "them. Voided transactions count nowhere."
        ),
    ),
    "Session": _object(
        {
            "token": _string(None, description="send as `Authorization: Bearer <token>`"),
            "operator_no": _string(None),
            "name": _string(None),
            "role": _enum(sorted(ALL_ROLES)),
            "terminal_id": _string(None),
            "batch_no": _six("the terminal's open batch", nullable=False),
        },
        ["token", "operator_no", "name", "role", "terminal_id", "batch_no"],
    ),
    "Whoami": _object(
        {
            "operator_no": _string(None),
            "name": _string(None),
            "role": _enum(sorted(ALL_ROLES)),
            "terminal_id": _string(None),
            "locked": {
                "type": "boolean",
                "description": "locked (锁定) until POST /api/v1/session/unlock",
            },
        },
        ["operator_no", "name", "role", "terminal_id", "locked"],
    ),
    "StaffMember": _object(
        {
            "operator_no": _string(
                None, description="员工号: 00 (主管), 01–98 (操作员), 99 (系统操作员) or owner"
            ),
            "name": _string(None),
            "role": _enum(sorted(ALL_ROLES)),
            "active": {
                "type": "boolean",
                "description": "false once removed (删除操作员): cannot sign in",
            },
            "password_set": {
                "type": "boolean",
                "description": "false while still on the role's default password (owner: none)",
            },
        },
        ["operator_no", "name", "role", "active", "password_set"],
        description="A staff member (员工); never a password.",
    ),
    "Terminal": _object(
        _TERMINAL,
        list(_TERMINAL),
        description="A terminal (终端) and its parameters (终端参数).",
    ),
    "NewTerminal": _object(
        {
            **_TERMINAL,
            "terminal_key": _string(
                TERMINAL_KEY,
                description=(
                    "终端密钥: shown this once and kept only as a keyed hash; a new one with "
                    "POST /api/v1/terminals/{terminal_id}/key"
                ),
                example="3385192015828982",
            ),
        },
        [*_TERMINAL, "terminal_key"],
        description="A terminal just registered: its parameters (the defaults) and its key.",
    ),
    "TerminalKeyChecked": _object(
        {"terminal_id": _string(None, description="终端号"), "name": _TERMINAL["name"]},
        ["terminal_id", "name"],
        description="The terminal whose key was right (or which has no key).",
    ),
    "PrintJob": _PRINT_JOB,
    "PrinterStatus": _object(
        {
            "printer": _enum(
                ["none", "unknown", "printing", "ok", "failed"],
                description="none: no printer set; unknown: not tried yet; ok: the last job "
                "(or connection test) got through; failed: it did not (see `error`)",
            ),
            "error": _string(None, nullable=True, description="the last failure"),
            "job": _ref("PrintJob"),
        },
        ["printer", "error", "job"],
        description="The terminal's receipt printer and its last job.",
    ),
    "OwnTerminal": _object(
        {
            **_TERMINAL,
            "enabled_types": _SETTING_PROPERTIES["enabled_types"],
            "merchant_id": _SETTING_PROPERTIES["merchant_id"],
            "merchant_name": _SETTING_PROPERTIES["merchant_name"],
            "receipt_title": _SETTING_PROPERTIES["receipt_title"],
            "printer": _ref("PrinterStatus"),
        },
        [*_TERMINAL, "enabled_types", "merchant_id", "merchant_name", "receipt_title", "printer"],
        description=(
            "The caller's terminal, with what its screens need of the shop's settings: a type "
            "not in `enabled_types` is not on the menu."
        ),
    ),
    "TerminalChange": _object(
        _TERMINAL_PARAMETERS,
        minProperties=1,
        description=(
            "Any non-empty subset of the terminal parameters; all are checked before any is "
            "written. A key that is not a parameter is `bad_request`; a value a parameter does "
            "not take is `invalid_setting` (with `setting`)."
        ),
    ),
    "Balance": _object(
        {"card_no": _ref("CardNo"), "balance": _money("储值余额"), "points": _integer(0)},
        ["card_no", "balance", "points"],
        description="储值查询 / 积分查询.",
    ),
    "Settings": _object(
        _SETTING_PROPERTIES,
        list(_SETTING_PROPERTIES),
        description="Shop-wide settings (终端参数 / 交易参数) and the merchant's own fields.",
    ),
    "SettingsChange": _object(
        _SETTING_PROPERTIES,
        minProperties=1,
        description=(
            "Any non-empty subset of Settings; all are checked before any is written. An "
            "unknown key or a bad value is refused (`invalid_setting`, with `setting`)."
        ),
    ),
}

SCHEMAS = {
    **_REQUEST_FORMATS,
    **_TRANSACTION_REQUESTS,
    "ActivateCardRequest": _ACTIVATION,
    **_RECORDS,
}


# ---------------------------------------------------------------- operations


def _errors(codes) -> dict:
    """code -> HTTP status, from errors.ERRORS (a KeyError names an unknown code)."""
    return {code: ERRORS[code][0] for code in codes}


def _op(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    *,
    roles: str | None,
    errors=(),
    body: dict | None = None,
    params=(),
    ok: dict,
    status: int = 200,
    while_locked: bool = False,
) -> dict:
    """One operation. The refusals every guarded view can give are added here: a session
    (`not_signed_in`), a locked session (`terminal_locked`, but for the few views that answer
    `while_locked`), a role (`not_permitted`) and a JSON object body (`bad_request`)."""
    codes = list(errors)
    if roles is not None:
        guards = ["not_signed_in"]
        if not while_locked:
            guards.append("terminal_locked")
        if ROLE_SETS[roles] != ALL_ROLES:
            guards.append("not_permitted")
        codes[:0] = guards
    if body is not None and "bad_request" not in codes:
        codes.append("bad_request")
    error_codes = _errors(dict.fromkeys(codes))
    allowed = sorted(ROLE_SETS[roles]) if roles is not None else []
    if roles is None:
        who = "No session needed."
    elif ROLE_SETS[roles] == ALL_ROLES:
        who = f"Roles: any signed-in staff member ({', '.join(allowed)})."
    else:
        who = f"Roles: {', '.join(allowed)} (`staff.{roles}`)."
    responses = {str(status): ok}
    for code_status in sorted(set(error_codes.values())):
        named = [c for c, s in error_codes.items() if s == code_status]
        responses[str(code_status)] = _json(
            _ref("Error"), "Refused: " + ", ".join(f"`{c}`" for c in named)
        )
    operation = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": f"{description}\n\n{who}",
        "security": [] if roles is None else [{"bearer": []}],
        "x-roles": allowed,
        "x-error-codes": error_codes,
    }
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = body
    operation["responses"] = responses
    return operation


_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when the request_id was seen before and this is the original",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_CARD_STATUS_REFUSALS = ("card_inactive", "card_frozen", "card_lost", "card_expired")
_PIN_REFUSALS = ("wrong_pin", "pin_locked")
_SUPERVISOR_REFUSALS = (
    "bad_request",
    "staff_locked",
    "wrong_password",
    "password_change_required",
)


def _card_response(description: str = "the card") -> dict:
    return _json(_ref("Card"), f"{description} (balance and points in the owner's view only)")


def _flag(name: str) -> dict:
    """A small `{card_no, <name>: true}` acknowledgement."""
    return _json(
        _object(
            {"card_no": _ref("CardNo"), name: {"type": "boolean", "enum": [True]}},
            ["card_no", name],
        ),
        "done",
    )


def _locked(value: bool) -> dict:
    return _object({"locked": {"type": "boolean", "enum": [value]}}, ["locked"])


_LOCK_DESCRIPTION = """\
锁定: the staff member steps away from the terminal. Until POST /api/v1/session/unlock with \
their own password, every call of this session answers `terminal_locked` (423) but GET and \
DELETE /api/v1/session and the unlock; locking a locked session is `terminal_locked` too. \
Only this session is locked, not the terminal's other sessions. Takes no body."""

_STAFF_AUTHORITY = (
    "Authorised by a supervisor's or the owner's session, or from an operator's session by "
    "`supervisor_password` (the supervisor's authorisation, with its lock)."
)


def _service_paths() -> dict:
    return {
        "/api/openapi.json": {
            "get": _op(
                "openapi",
                "service",
                "This document",
                "The OpenAPI 3.0.3 document of the API.",
                roles=PUBLIC,
                ok=_json({"type": "object"}, "the document"),
            )
        },
        "/api/v1/health": {
            "get": _op(
                "health",
                "service",
                "Health check",
                "Answers while the server runs; touches no data.",
                roles=PUBLIC,
                ok=_json(_object({"status": _enum(["ok"])}, ["status"]), "the server is running"),
            )
        },
        "/api/v1/version": {
            "get": _op(
                "version",
                "service",
                "Version (版本信息)",
                "What the POS's version screen shows: the software version, the caller's "
                "terminal and the merchant.",
                roles="any signed-in role",
                ok=_json(
                    _object(
                        {
                            "version": _string(None, description="the software's version"),
                            "terminal_id": _string(None, description="the caller's 终端号"),
                            "merchant_id": _SETTING_PROPERTIES["merchant_id"],
                            "merchant_name": _SETTING_PROPERTIES["merchant_name"],
                        },
                        ["version", "terminal_id", "merchant_id", "merchant_name"],
                    ),
                    "the version",
                ),
            )
        },
    }


def _session_paths() -> dict:
    sign_in_body = _object(
        {
            "operator_no": _string(None, description="员工号: 00, 01–05, 99 or owner"),
            "password": _string(None),
            "terminal_id": _string(
                None,
                nullable=True,
                description=("终端号; may be left out while the shop has exactly one POS terminal"),
            ),
            "terminal_key": _string(
                None,
                nullable=True,
                description="终端密钥; needed at a terminal that has a key, ignored at one without",
            ),
        },
        ["operator_no", "password"],
    )
    return {
        "/api/v1/session": {
            "post": _op(
                "sign_in",
                "session",
                "Sign in (签到)",
                "Opens a session at a terminal and returns its bearer token. The terminal "
                "is checked first, then its key, then the password. A terminal that has a key "
                "(every one registered with POST /api/v1/terminals) opens sessions only with "
                "it in `terminal_key`: `terminal_key_required` when missing, "
                "`wrong_terminal_key` when wrong; wrong keys count per terminal like "
                "passwords, with the terminal key check (POST "
                "/api/v1/terminals/{terminal_id}/bind), up to `staff_locked`. A terminal "
                "without a key (the one terminal of a fresh shop) takes any call. An unknown "
                "operator number and a "
                "wrong password answer alike (`wrong_password`). A staff member still on "
                "the published default password cannot sign in "
                "(`password_change_required`): change it first with "
                "POST /api/v1/staff/{operator_no}/password. The owner has no default "
                "(`password_not_set` until `flask set-password owner …`). After "
                "`password_attempt_limit` wrong passwords in a row for an operator number "
                "(known or not; default 5) every attempt is `staff_locked` (with "
                "`minutes_left`) for `password_lock_minutes` (default 15), right password "
                "or not. Sessions live in memory: a restart or 12 idle hours ends them.",
                roles=PUBLIC,
                body=_body(sign_in_body, {"operator_no": "01", "password": "2580"}),
                errors=(
                    "bad_request",
                    "terminal_required",
                    "terminal_not_found",
                    "terminal_key_required",
                    "wrong_terminal_key",
                    "password_not_set",
                    "staff_locked",
                    "wrong_password",
                    "staff_disabled",
                    "password_change_required",
                ),
                ok=_json(_ref("Session"), "signed in"),
                status=201,
            ),
            "get": _op(
                "whoami",
                "session",
                "The current session",
                "Who the bearer token belongs to, at which terminal, and whether the "
                "session is locked. Answers while it is locked.",
                roles="any signed-in role",
                ok=_json(_ref("Whoami"), "the session"),
                while_locked=True,
            ),
            "delete": _op(
                "sign_out",
                "session",
                "Sign out (签退)",
                "Ends the session of this token, locked or not.",
                roles="any signed-in role",
                ok={"description": "signed out (no body)"},
                status=204,
                while_locked=True,
            ),
        },
        "/api/v1/session/lock": {
            "post": _op(
                "lock_session",
                "session",
                "Lock the session (锁定)",
                _LOCK_DESCRIPTION,
                roles="any signed-in role",
                ok=_json(_locked(True), "locked"),
            )
        },
        "/api/v1/session/unlock": {
            "post": _op(
                "unlock_session",
                "session",
                "Unlock the session",
                "The password of the staff member signed in on this session, theirs and no "
                "one else's (not the supervisor's), unlocks it; a missing one is a wrong one. "
                "Wrong passwords count at a door of their own, apart from sign-in: after "
                "`password_attempt_limit` in a row every attempt is `staff_locked` (with "
                "`minutes_left`) for `password_lock_minutes`, right password or not; the "
                "session may still sign out. Answers on an unlocked session too.",
                roles="any signed-in role",
                body=_body(
                    _object({"password": _string(None)}, ["password"]), {"password": "2580"}
                ),
                errors=("bad_request", "staff_locked", "wrong_password"),
                ok=_json(_locked(False), "unlocked"),
                while_locked=True,
            )
        },
    }


def _changed() -> dict:
    return _json(
        _object(
            {"operator_no": _string(None), "changed": {"type": "boolean", "enum": [True]}},
            ["operator_no", "changed"],
        ),
        "changed",
    )


def _staff_paths() -> dict:
    return {
        "/api/v1/staff": {
            "get": _op(
                "list_staff",
                "staff",
                "The staff (员工管理)",
                "Every staff member by number, removed operators too (`active` false). No "
                "passwords: `password_set` is false while one is still on the role's default "
                "(the owner: none set).",
                roles="CAN_MANAGE_STAFF",
                ok=_json(
                    _object({"staff": {"type": "array", "items": _ref("StaffMember")}}, ["staff"]),
                    "the staff",
                ),
            ),
            "post": _op(
                "add_operator",
                "staff",
                "Add an operator (添加操作员)",
                "A new operator number, two digits other than 00 (supervisor) and 99 (system "
                "operator), with a password of the operator's own: 4 to 8 digits, not the "
                "default 0000, so they can sign in at once. `name` defaults to 操作员NN. A "
                "removed operator's number may be given again: the operator is back, active, "
                "with the new name and password. " + _STAFF_AUTHORITY + " Checks, in order: "
                "the operator number (`invalid_staff_no`), the name (`bad_request` with "
                "`field`), the password (`invalid_password`), the authorisation, the number "
                "free (`staff_exists`).",
                roles="CAN_TRANSACT",
                body=_body(
                    _object(
                        {
                            "operator_no": _string(NEW_OPERATOR_NO, description="操作员号"),
                            "name": _string(
                                None, nullable=True, maxLength=40, description="default 操作员NN"
                            ),
                            "password": _string(
                                TERMINAL_PASSWORD, description="4 to 8 digits, not 0000"
                            ),
                            "supervisor_password": _ref("SupervisorPassword"),
                        },
                        ["operator_no", "password"],
                    ),
                    {
                        "operator_no": "06",
                        "name": "陈七",
                        "password": "6060",
                        "supervisor_password": "135790",
                    },
                ),
                errors=(
                    "invalid_staff_no",
                    "invalid_password",
                    *_SUPERVISOR_REFUSALS,
                    "staff_exists",
                ),
                ok=_json(_ref("StaffMember"), "the operator"),
                status=201,
            ),
        },
        "/api/v1/staff/{operator_no}": {
            "delete": _op(
                "remove_operator",
                "staff",
                "Remove an operator (删除操作员)",
                "Disables the operator: they can no longer sign in (`staff_disabled`) and "
                "every session of theirs ends; their journal rows keep naming them, and the "
                "number may be given again with POST /api/v1/staff. Only operators are "
                "removed. The body is optional. " + _STAFF_AUTHORITY + " Checks, in order: "
                "the authorisation, an active staff member of this number "
                "(`staff_not_found`), an operator (`not_permitted`).",
                roles="CAN_TRANSACT",
                params=[_path_operator_no()],
                body={
                    **_body(
                        _object({"supervisor_password": _ref("SupervisorPassword")}),
                        {"supervisor_password": "135790"},
                    ),
                    "required": False,
                },
                errors=(*_SUPERVISOR_REFUSALS, "staff_not_found"),
                ok={"description": "removed (no body)"},
                status=204,
            )
        },
        "/api/v1/staff/{operator_no}/password": {
            "post": _op(
                "change_staff_password",
                "session",
                "Change a staff password",
                "The old password is the proof, so no session is needed; this is how a "
                "default password is replaced before the first sign-in. Operators, the "
                "supervisor and the system operator take 4 to 8 digits, the owner 8 to 128 "
                "characters; never the role's default. A wrong old password counts toward "
                "the same lock as sign-in (`staff_locked`). Ends every session of that "
                "staff member.",
                roles=PUBLIC,
                params=[_path_operator_no()],
                body=_body(
                    _object(
                        {"old_password": _string(None), "new_password": _string(None)},
                        ["old_password", "new_password"],
                    ),
                    {"old_password": "0000", "new_password": "2580"},
                ),
                errors=("password_not_set", "staff_locked", "wrong_password", "invalid_password"),
                ok=_changed(),
            ),
            "put": _op(
                "reset_staff_password",
                "staff",
                "Set a staff password (改密)",
                "Without the old password: an operator's, authorised by the supervisor; "
                "anyone's, by the owner. The rules of the new password are those of the "
                "change above. Ends every session of that staff member. "
                + _STAFF_AUTHORITY
                + " Checks, in order: the authorisation, the staff member found "
                "(`staff_not_found`), whose it is (`not_permitted`: the supervisor sets "
                "operators' passwords only), the new password (`invalid_password`).",
                roles="CAN_TRANSACT",
                params=[_path_operator_no()],
                body=_body(
                    _object(
                        {
                            "new_password": _string(None),
                            "supervisor_password": _ref("SupervisorPassword"),
                        },
                        ["new_password"],
                    ),
                    {"new_password": "7070"},
                ),
                errors=(*_SUPERVISOR_REFUSALS, "staff_not_found", "invalid_password"),
                ok=_changed(),
            ),
        },
    }


def _terminal_paths() -> dict:
    return {
        "/api/v1/terminal": {
            "get": _op(
                "own_terminal",
                "terminals",
                "The caller's terminal",
                "The terminal this session is signed in at, with its parameters (终端参数) "
                "and what its screens need of the shop's settings.",
                roles="any signed-in role",
                ok=_json(_ref("OwnTerminal"), "the terminal"),
            )
        },
        "/api/v1/terminal/printer": {
            "get": _op(
                "printer_status",
                "terminals",
                "The terminal's receipt printer",
                "Whether the caller's terminal's printer answered, and its last job. Asked "
                "about a printer not yet tried, the server tests the connection (the answer "
                "comes as an `event: printer` on the stream).",
                roles="any signed-in role",
                ok=_json(_ref("PrinterStatus"), "the printer"),
            )
        },
        "/api/v1/terminal/printer/jobs": {
            "post": _op(
                "print_job",
                "terminals",
                "Print on the terminal's printer",
                "`reprint` (重印: what failed to print since the printer last worked, again; "
                "else the terminal's last receipt, marked 重印 REPRINT; with `voucher_no` the "
                "receipt of that transaction of this terminal), "
                "`settlement` (the terminal's last settlement slip again), `feed` (送纸), "
                "`journal` or `totals` (管理 → 打印: the open batch's transactions, or its "
                "totals by type) or `test` (a test page). Queued and "
                "answered at once; the outcome comes as an `event: printer` on the stream and "
                "in GET /api/v1/terminal/printer. Receipts of transactions and the settlement "
                "slip are printed without asking, on terminals that have a printer. Any "
                "signed-in role may feed paper or print a test page; the others are for "
                "`actors.CAN_TRANSACT` (else `not_permitted`).",
                roles="any signed-in role",
                errors=(
                    "bad_request",
                    "not_permitted",
                    "printer_not_configured",
                    "no_receipt",
                    "transaction_not_found",
                    "no_settlement",
                ),
                body=_body(
                    _object(
                        {
                            "kind": _enum(
                                ["reprint", "settlement", "feed", "journal", "totals", "test"]
                            ),
                            "voucher_no": _string(
                                "^[0-9]{1,9}$",
                                description="reprint only: the voucher (凭证号) of a "
                                "transaction of this terminal",
                            ),
                        },
                        ["kind"],
                    ),
                    {"kind": "reprint"},
                ),
                ok=_json(_ref("PrintJob"), "the job, queued"),
                status=202,
            )
        },
        "/api/v1/terminal/swipes/stream": {
            "get": _op(
                "swipe_stream",
                "terminals",
                "The card reader's swipes, pushed (Server-Sent Events)",
                "The swipes of the card reader (刷卡器, `KAKATONG_MSR`) bound to the caller's "
                "terminal, as `text/event-stream`: first an `event: status` with "
                '`{"reader": "connected"|"disconnected"|"none"}`, then `event: swipe` with '
                '`{"id", "card_no", "expires"}` (expires: YYMM as on the stripe), `event: retry` '
                "for a bad read (请重新刷卡) and `event: status` when the reader comes or goes; "
                "an `event: printer` (a PrinterStatus) first and whenever a print job moves; "
                "each with an `id:`, and a comment line as a heartbeat every 5 s. The stream "
                "ends after 25 s: reconnect, sending the last id seen as `Last-Event-ID` to get "
                "what came in between. Read it with fetch() (an EventSource cannot send the "
                "bearer token; never put the token in the URL). Open streams are capped at a "
                "quarter of the server's threads: beyond that `too_many_streams`, and the page "
                "polls GET /api/v1/terminal/swipes instead.",
                roles="any signed-in role",
                errors=("too_many_streams",),
                params=[
                    _param(
                        "Last-Event-ID",
                        "header",
                        _string("^[0-9]+$"),
                        "the last event id seen: events after it are sent first",
                    )
                ],
                ok={
                    "description": "the event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
            )
        },
        "/api/v1/terminal/swipes": {
            "get": _op(
                "poll_swipes",
                "terminals",
                "The card reader's swipes, polled",
                "The fallback of the stream: the swipes and bad reads (`retry`) of the "
                "reader bound to the caller's terminal newer than `after`, waiting up to 5 s "
                "for one (while a stream's slot is free, else answering at once), and the "
                "reader's status. Without `after`, answers at once with no swipes and the "
                "`last_id` to poll after.",
                roles="any signed-in role",
                errors=("bad_request",),
                params=[
                    _param(
                        "after",
                        "query",
                        _integer(0),
                        "the `last_id` of the previous answer",
                    )
                ],
                ok=_json(
                    _object(
                        {
                            "swipes": {
                                "type": "array",
                                "items": _object(
                                    {
                                        "id": _integer(1),
                                        "event": _enum(["swipe", "retry"]),
                                        "card_no": _string(
                                            "^[0-9]{8,19}$",
                                            nullable=True,
                                            description="the card number (null for a retry)",
                                        ),
                                        "expires": _string(
                                            "^[0-9]{4}$",
                                            nullable=True,
                                            description="YYMM as on the stripe",
                                        ),
                                    },
                                    ["id", "event", "card_no", "expires"],
                                ),
                            },
                            "reader": _enum(["connected", "disconnected", "none"]),
                            "printer": _ref("PrinterStatus"),
                            "last_id": _integer(0),
                        },
                        ["swipes", "reader", "printer", "last_id"],
                    ),
                    "the swipes since `after`",
                ),
            )
        },
        "/api/v1/terminals": {
            "get": _op(
                "list_terminals",
                "terminals",
                "The terminals",
                "Every terminal with its parameters, by terminal ID.",
                roles="CAN_CHANGE_SETTINGS",
                ok=_json(
                    _object(
                        {"terminals": {"type": "array", "items": _ref("Terminal")}},
                        ["terminals"],
                    ),
                    "the terminals",
                ),
            ),
            "post": _op(
                "register_terminal",
                "terminals",
                "Register a terminal (终端)",
                "A new POS terminal with the default parameters and a key (终端密钥) of "
                f"{KEY_DIGITS} digits, answered this once and kept only as a keyed hash: "
                "from now on sessions at this terminal open only with the key. Checks, in "
                "order: the fields, the terminal ID (`invalid_terminal_id`: 8 digits), the "
                "name (`invalid_setting` with `setting`), the ID free (`terminal_exists`).",
                roles="CAN_CHANGE_SETTINGS",
                body=_body(
                    _object(
                        {
                            "terminal_id": _string(_full(TERMINAL_ID), description="终端号"),
                            "name": _TERMINAL_PARAMETERS["name"],
                        },
                        ["terminal_id", "name"],
                    ),
                    {"terminal_id": "10000002", "name": "收银台 2"},
                ),
                errors=("bad_request", "invalid_terminal_id", "invalid_setting", "terminal_exists"),
                ok=_json(_ref("NewTerminal"), "the terminal and its key"),
                status=201,
            ),
        },
        "/api/v1/terminals/{terminal_id}/key": {
            "post": _op(
                "rotate_terminal_key",
                "terminals",
                "A new terminal key (终端密钥管理)",
                "Gives the terminal a new key, answered this once and kept only as a keyed "
                "hash; the old key stops working at once (sessions already open go on). A "
                "terminal that had no key has one from now on. Takes no body.",
                roles="CAN_CHANGE_SETTINGS",
                params=[_param("terminal_id", "path", _string(None), "终端号")],
                errors=("terminal_not_found",),
                ok=_json(
                    _object(
                        {
                            "terminal_id": _string(None, description="终端号"),
                            "terminal_key": _string(
                                TERMINAL_KEY, description="终端密钥, shown this once"
                            ),
                        },
                        ["terminal_id", "terminal_key"],
                    ),
                    "the new key",
                ),
            )
        },
        "/api/v1/terminals/{terminal_id}/bind": {
            "post": _op(
                "bind_terminal",
                "terminals",
                "Check a terminal key (bind a browser to a terminal)",
                "Checks the key of a terminal, so that a browser can become that terminal "
                "before anyone signs in there. A terminal without a key (the one terminal of "
                "a fresh shop) takes any call. Wrong keys count per terminal, together with "
                "those sent to sign-in there: after `password_attempt_limit` in a row every "
                "attempt is `staff_locked` (with `minutes_left`) for `password_lock_minutes`, "
                "right key or not. Checks, in order: the terminal found "
                "(`terminal_not_found`), the fields, the key.",
                roles=PUBLIC,
                params=[_param("terminal_id", "path", _string(None), "终端号")],
                body=_body(
                    _object(
                        {
                            "terminal_key": _string(
                                None,
                                nullable=True,
                                description="终端密钥; may be left out at a terminal without one",
                            )
                        }
                    ),
                    {"terminal_key": "3385192015828982"},
                ),
                errors=(
                    "terminal_not_found",
                    "bad_request",
                    "terminal_key_required",
                    "staff_locked",
                    "wrong_terminal_key",
                ),
                ok=_json(_ref("TerminalKeyChecked"), "the key is right: this is the terminal"),
            )
        },
        "/api/v1/terminals/{terminal_id}": {
            "put": _op(
                "update_terminal",
                "terminals",
                "Change terminal parameters (终端参数设置)",
                "Changes the parameters given (any non-empty subset), all or none: every "
                "change is checked before any is written. A field that is not a parameter is "
                "`bad_request`; a value a parameter does not take is `invalid_setting` (with "
                "`setting`). `next_trace_no` sets the 流水号 the next transaction at this "
                "terminal gets, as on the POS. Checks, in order: the fields, the terminal "
                "found (`terminal_not_found`), the values.",
                roles="CAN_CHANGE_SETTINGS",
                params=[_param("terminal_id", "path", _string(None), "终端号")],
                body=_body(_ref("TerminalChange"), {"receipt_copies": 1, "next_trace_no": 100}),
                errors=("bad_request", "terminal_not_found", "invalid_setting"),
                ok=_json(_ref("Terminal"), "the terminal after the change"),
            )
        },
    }


def _card_paths() -> dict:
    holder_change = "Checks, in order: formats, card found, card status, PIN (a wrong one counts)."
    return {
        "/api/v1/cards": {
            "post": _op(
                "activate_card",
                "cards",
                "Activate a card (会员激活)",
                "A new card number, or one of the shop's stock still `inactive`. Nothing "
                "moves: the balance and points start at zero.",
                roles="CAN_TRANSACT",
                body=_body(
                    _ref("ActivateCardRequest"),
                    {"card_no": "1680106700000034", "phone": "13700137000", "pin": "246810"},
                ),
                errors=(
                    "bad_request",
                    "invalid_date",
                    "invalid_card_no",
                    "invalid_phone",
                    "invalid_id_number",
                    "invalid_pin",
                    "level_not_found",
                    "card_exists",
                    "phone_taken",
                    "external_no_taken",
                ),
                ok=_card_response("the activated card"),
                status=201,
            ),
            "get": _op(
                "find_card",
                "cards",
                "Find a card",
                "By card number, external card number (外卡号) or bound phone, in that order.",
                roles="any signed-in role",
                params=[
                    _param(
                        "find",
                        "query",
                        _string(None, minLength=1),
                        "卡号, 外卡号 or 手机号码",
                        required=True,
                    )
                ],
                errors=("bad_request", "card_not_found"),
                ok=_card_response(),
            ),
        },
        "/api/v1/cards/{card_no}": {
            "get": _op(
                "get_card",
                "cards",
                "Get a card",
                "The card with exactly this card number.",
                roles="any signed-in role",
                params=[_path_card_no()],
                errors=("invalid_card_no", "card_not_found"),
                ok=_card_response(),
            )
        },
        "/api/v1/cards/{card_no}/phone": {
            "put": _op(
                "bind_phone",
                "cards",
                "Bind a phone (绑定手机)",
                'Binds a phone number to the card; null or "" unbinds it. ' + holder_change,
                roles="CAN_TRANSACT",
                params=[_path_card_no()],
                body=_body(
                    _object(
                        {
                            "phone": _string(_full(PHONE), nullable=True),
                            "pin": _ref("Pin"),
                        },
                        ["phone"],
                    ),
                    {"phone": "13600136000", "pin": "123456"},
                ),
                errors=(
                    "bad_request",
                    "invalid_card_no",
                    "invalid_pin",
                    "invalid_phone",
                    "card_not_found",
                    *_CARD_STATUS_REFUSALS,
                    *_PIN_REFUSALS,
                    "phone_taken",
                ),
                ok=_card_response(),
            )
        },
        "/api/v1/cards/{card_no}/id_number": {
            "put": _op(
                "bind_id_number",
                "cards",
                "Bind an ID number (绑定身份证)",
                'Binds a national ID number to the card; null or "" unbinds it. ' + holder_change,
                roles="CAN_TRANSACT",
                params=[_path_card_no()],
                body=_body(
                    _object(
                        {
                            "id_number": _string(_full(ID_NUMBER), nullable=True),
                            "pin": _ref("Pin"),
                        },
                        ["id_number"],
                    ),
                ),
                errors=(
                    "bad_request",
                    "invalid_card_no",
                    "invalid_pin",
                    "invalid_id_number",
                    "card_not_found",
                    *_CARD_STATUS_REFUSALS,
                    *_PIN_REFUSALS,
                ),
                ok=_card_response(),
            )
        },
        "/api/v1/cards/{card_no}/pin": {
            "post": _op(
                "change_pin",
                "cards",
                "Change the PIN (修改密码)",
                'The old PIN is the proof (null/"" for a card without one); a null or '
                "empty new PIN removes the PIN. " + holder_change,
                roles="CAN_TRANSACT",
                params=[_path_card_no()],
                body=_body(
                    _object({"old_pin": _ref("Pin"), "new_pin": _ref("Pin")}),
                    {"old_pin": "123456", "new_pin": "654321"},
                ),
                errors=(
                    "invalid_card_no",
                    "invalid_pin",
                    "card_not_found",
                    *_CARD_STATUS_REFUSALS,
                    *_PIN_REFUSALS,
                ),
                ok=_flag("changed"),
            )
        },
        "/api/v1/cards/{card_no}/pin/reset": {
            "post": _op(
                "reset_pin",
                "cards",
                "Reset the PIN (密码重置)",
                "Without the old PIN: staff confirm the holder, the supervisor authorises. "
                "Clears a PIN lock too. Checks: formats, supervisor password, card found, "
                "card not inactive (a frozen or lost card may be reset).",
                roles="CAN_TRANSACT",
                params=[_path_card_no()],
                body=_body(
                    _object(
                        {
                            "new_pin": _ref("Pin"),
                            "supervisor_password": _ref("SupervisorPassword"),
                        },
                    ),
                    {"new_pin": "246810", "supervisor_password": "135790"},
                ),
                errors=(
                    "invalid_card_no",
                    "invalid_pin",
                    *_SUPERVISOR_REFUSALS,
                    "card_not_found",
                    "card_inactive",
                ),
                ok=_flag("reset"),
            )
        },
        "/api/v1/cards/{card_no}/pin/unlock": {
            "post": _op(
                "unlock_pin",
                "cards",
                "Unlock the PIN",
                "Clears the wrong-PIN count and lock; the supervisor authorises. An inactive "
                "card has no PIN to unlock.",
                roles="CAN_TRANSACT",
                params=[_path_card_no()],
                body=_body(
                    _object({"supervisor_password": _ref("SupervisorPassword")}),
                    {"supervisor_password": "135790"},
                ),
                errors=(
                    "invalid_card_no",
                    *_SUPERVISOR_REFUSALS,
                    "card_not_found",
                    "card_inactive",
                ),
                ok=_flag("unlocked"),
            )
        },
        "/api/v1/cards/{card_no}/status": {
            "post": _op(
                "set_card_status",
                "cards",
                "Freeze, report lost, restore (冻结 / 挂失 / 解挂)",
                "Allowed changes: active → frozen, active → lost, frozen → lost (no "
                "authorisation); frozen → active and lost → active (the supervisor "
                "authorises). Anything else is `invalid_status_change` (with "
                "`current_status`).",
                roles="any signed-in role",
                params=[_path_card_no()],
                body=_body(
                    _object(
                        {
                            "status": _enum(CARD_STATUSES),
                            "supervisor_password": _ref("SupervisorPassword"),
                        },
                        ["status"],
                    ),
                    {"status": "frozen"},
                ),
                errors=(
                    "invalid_card_no",
                    "bad_request",
                    "card_not_found",
                    "invalid_status_change",
                    *_SUPERVISOR_REFUSALS,
                ),
                ok=_card_response("the card with its new status"),
            )
        },
        "/api/v1/cards/{card_no}/query": {
            "post": _op(
                "query_card",
                "cards",
                "Balance and points query (储值查询 / 积分查询)",
                "The card's balance and points for the holder's PIN. Writes no journal row; "
                "a wrong PIN still counts. Checks: formats, card found, card status, PIN.",
                roles="CAN_TRANSACT",
                params=[_path_card_no()],
                body=_body(_object({"pin": _ref("Pin")}), {"pin": "123456"}),
                errors=(
                    "invalid_card_no",
                    "invalid_pin",
                    "card_not_found",
                    *_CARD_STATUS_REFUSALS,
                    *_PIN_REFUSALS,
                ),
                ok=_json(_ref("Balance"), "the balance and points"),
            )
        },
    }


_TRANSACT_DESCRIPTION = """\
One of the four transactions, by `type`: 储值消费 `consume`, 储值充值 `recharge`, 积分累加 \
`points_earn`, 积分消费 `points_redeem`. Each is one database transaction.

Checks, in this order (the first failure answers): request format (fields, type, card number, \
PIN format, request_id, service code, payment method), the type is enabled \
(`transaction_disabled`), amount or points (`invalid_amount`, `over_limit`, \
`invalid_points`), the request_id (replay or `request_id_reused`), card found, card status, \
PIN (a wrong PIN counts toward the lock even though the request is refused), balance or \
points.

Idempotency: the same `request_id` with the same content returns the original transaction \
(as it is now: it may since have been voided) with status 201 and `Idempotent-Replayed: \
true`; with different content (another card, amount, PIN, terminal…) `request_id_reused`. A \
refused request claims nothing."""

_VOID_DESCRIPTION = """\
交易撤销: reverses a transaction of a still-open batch, exactly once, as a new `void` row \
(posted to the caller's terminal and batch).

Checks, in this order: request format, supervisor password (the owner needs none), \
request_id (replay or `request_id_reused`), original found, voidable (`not_voidable` for a \
void or an opening entry), already voided, batch closed (the original's terminal has \
settled since), the card's PIN (on the card that holds the original), and that the \
reversal leaves no balance or points negative (`void_refused`). The card's status is not \
checked. Idempotent like POST /api/v1/transactions."""


def _transaction_paths() -> dict:
    journal_params = [
        _param("card_no", "query", _string(None), "卡号"),
        _param(
            "time_from",
            "query",
            _string(None),
            "ISO 8601 date-time, inclusive; without an offset it is shop time. Percent-"
            "encode a `+` offset as %2B",
        ),
        _param("time_to", "query", _string(None), "ISO 8601 date-time, inclusive"),
        _param("date_from", "query", _string(None, format="date"), "清算日期 from, YYYY-MM-DD"),
        _param("date_to", "query", _string(None, format="date"), "清算日期 to, inclusive"),
        _param("status", "query", _enum(["success", "voided"]), "交易状态"),
        _param("type", "query", _enum(JOURNAL_TYPES), "交易类型"),
        _param("trace_no", "query", _integer(0), "流水号 (digits)"),
        _param("terminal_id", "query", _string(None), "终端号"),
        _param("batch_no", "query", _integer(0), "批次号 (digits)"),
        _param("page", "query", _integer(1, default=1), "page number, from 1"),
        _param("per_page", "query", _integer(1, MAX_PAGE_SIZE, default=50), "rows per page"),
    ]
    return {
        "/api/v1/transactions": {
            "post": _op(
                "post_transaction",
                "transactions",
                "Post a transaction (消费 / 充值 / 积分累加 / 积分消费)",
                _TRANSACT_DESCRIPTION,
                roles="CAN_TRANSACT",
                body=_body(
                    {
                        "oneOf": [_ref(name) for name in _REQUEST_OF_TYPE.values()],
                        "discriminator": {
                            "propertyName": "type",
                            "mapping": {
                                kind: f"#/components/schemas/{name}"
                                for kind, name in _REQUEST_OF_TYPE.items()
                            },
                        },
                    },
                    {
                        "type": "consume",
                        "card_no": "1680860097157114",
                        "amount": "100.00",
                        "pin": "123456",
                        "request_id": "pos1-20250301-0001",
                    },
                ),
                errors=(
                    "bad_request",
                    "invalid_card_no",
                    "invalid_pin",
                    "transaction_disabled",
                    "invalid_amount",
                    "over_limit",
                    "invalid_points",
                    "request_id_reused",
                    "card_not_found",
                    *_CARD_STATUS_REFUSALS,
                    *_PIN_REFUSALS,
                    "insufficient_balance",
                    "insufficient_points",
                    "no_points",
                ),
                ok=_json(
                    _ref("Transaction"),
                    "posted, or the original of a replayed request_id",
                    headers=_REPLAYED,
                ),
                status=201,
            ),
            "get": _op(
                "list_transactions",
                "transactions",
                "The journal (交易流水)",
                "Every terminal's journal, newest first, filtered and paged. All filters are "
                "optional and combine with AND.",
                roles="CAN_READ_JOURNAL",
                params=journal_params,
                errors=("bad_request", "invalid_date", "invalid_card_no", "invalid_terminal_id"),
                ok=_json(_ref("TransactionPage"), "one page"),
            ),
        },
        "/api/v1/transactions/{voucher_no}": {
            "get": _op(
                "get_transaction",
                "transactions",
                "A transaction by voucher number",
                "What the void screen shows before the void: the transaction this 凭证号 names, "
                "from any terminal.",
                roles="CAN_TRANSACT",
                params=[_path_voucher_no()],
                errors=("bad_request", "transaction_not_found"),
                ok=_json(_ref("Transaction"), "the transaction"),
            )
        },
        "/api/v1/transactions/{voucher_no}/void": {
            "post": _op(
                "void_transaction",
                "transactions",
                "Void a transaction (交易撤销)",
                _VOID_DESCRIPTION,
                roles="CAN_TRANSACT",
                params=[_path_voucher_no()],
                body=_body(
                    _object(
                        {
                            "supervisor_password": _ref("SupervisorPassword"),
                            "request_id": _ref("RequestId"),
                            "pin": _ref("Pin"),
                        },
                        ["request_id"],
                    ),
                    {
                        "supervisor_password": "135790",
                        "request_id": "pos1-20250301-0002",
                        "pin": "123456",
                    },
                ),
                errors=(
                    "bad_request",
                    "invalid_pin",
                    "staff_locked",
                    "wrong_password",
                    "password_change_required",
                    "request_id_reused",
                    "transaction_not_found",
                    "not_voidable",
                    "already_voided",
                    "batch_closed",
                    *_PIN_REFUSALS,
                    "void_refused",
                ),
                ok=_json(
                    _ref("Transaction"),
                    "the void row (type `void`), or the original of a replayed request_id",
                    headers=_REPLAYED,
                ),
                status=201,
            )
        },
    }


def _batch_paths() -> dict:
    return {
        "/api/v1/batch": {
            "get": _op(
                "current_batch",
                "batch",
                "The open batch of the caller's terminal",
                "Totals by type and the batch's journal (newest first), as settlement would "
                "print them now.",
                roles="CAN_TRANSACT",
                ok=_json(_ref("Batch"), "the open batch, with `transactions`"),
            )
        },
        "/api/v1/settlements": {
            "post": _op(
                "settle",
                "batch",
                "Settle (结算)",
                "Closes the caller's terminal's batch, keeps its totals and opens the next "
                "batch. Its transactions can no longer be voided (`batch_closed`). Takes no "
                "body.",
                roles="CAN_TRANSACT",
                ok=_json(_ref("Batch"), "the closed batch, with `settled_at` and `settle_date`"),
                status=201,
            )
        },
        "/api/v1/stats/daily": {
            "get": _op(
                "daily_stats",
                "reports",
                "Daily statistics (交易统计)",
                f"One row per settlement date from `from` to `to` (days without transactions "
                f"as zeros) and the totals. At most {MAX_RANGE_DAYS} days; `to` before `from` "
                f"is `bad_request`.",
                roles="CAN_READ_JOURNAL",
                params=[
                    _param(
                        "from",
                        "query",
                        _string(None, format="date"),
                        "YYYY-MM-DD; default the first day of this month",
                    ),
                    _param(
                        "to", "query", _string(None, format="date"), "YYYY-MM-DD; default today"
                    ),
                ],
                errors=("bad_request", "invalid_date"),
                ok=_json(_ref("DailyStats"), "the days and the totals"),
            )
        },
    }


def _settings_paths() -> dict:
    return {
        "/api/v1/settings": {
            "get": _op(
                "get_settings",
                "settings",
                "Read the settings (参数)",
                "Every setting with its current value. The money settings are integer fen "
                "(`*_fen`).",
                roles="CAN_CHANGE_SETTINGS",
                ok=_json(_ref("Settings"), "the settings"),
            ),
            "put": _op(
                "put_settings",
                "settings",
                "Change settings",
                "Changes the settings given (any non-empty subset), all or none.",
                roles="CAN_CHANGE_SETTINGS",
                body=_body(_ref("SettingsChange"), {"pin_attempt_limit": 5}),
                errors=("bad_request", "invalid_setting"),
                ok=_json(_ref("Settings"), "every setting after the change"),
            ),
        }
    }


_DESCRIPTION = """\
The JSON API of Kakatong (卡卡通), a self-hosted membership-card appliance: stored value \
(储值) and loyalty points (积分) for one shop. docs/api.md is the guide.

Conventions: money is a string of yuan with two decimals (\"90.50\"), never a number; points \
are JSON integers; trace, batch and voucher numbers are digit strings; times carry the \
shop's UTC offset. Sign in with POST /api/v1/session (with the terminal's key, at a \
terminal that has one) and send `Authorization: Bearer <token>`. A locked session (锁定, \
POST /api/v1/session/lock) answers `terminal_locked` (423) to all but GET and DELETE \
/api/v1/session and POST /api/v1/session/unlock. Every refusal is \
`{\"error\": code, \"message\": 中文}` with the status the code always has \
(`x-error-codes` on each operation); an unknown path is `not_found` (404), a wrong method \
`method_not_allowed` (405), a fault of the server `internal_error` (500)."""


def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Kakatong API", "version": __version__, "description": _DESCRIPTION},
        "servers": [{"url": "/", "description": "the appliance itself"}],
        "tags": [
            {"name": "service"},
            {"name": "session", "description": "签到 / 签退, 锁定 and staff passwords"},
            {"name": "staff", "description": "员工管理: operators and their passwords"},
            {"name": "terminals", "description": "终端, their keys (终端密钥) and 终端参数"},
            {"name": "cards", "description": "会员卡: activation, holder, PIN, status, query"},
            {"name": "transactions", "description": "the ledger: post, look up, void"},
            {"name": "batch", "description": "批次 and 结算"},
            {"name": "reports", "description": "交易统计"},
            {"name": "settings", "description": "终端参数 / 交易参数"},
        ],
        "paths": {
            **_service_paths(),
            **_session_paths(),
            **_staff_paths(),
            **_terminal_paths(),
            **_card_paths(),
            **_transaction_paths(),
            **_batch_paths(),
            **_settings_paths(),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token from POST /api/v1/session",
                }
            },
            "schemas": copy.deepcopy(SCHEMAS),  # callers may change their copy
        },
        "security": [{"bearer": []}],
    }
