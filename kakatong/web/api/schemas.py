"""The OpenAPI document's shared parts: the formats (patterns taken from the domain modules that
enforce them), the small schema helpers (`string_schema`, `enum_schema`, `integer_schema`,
`object_schema`, `request_body` for a JSON request body, `json_response` for a response, `ref_to`
for a component, `parameter`), the component schemas (`SCHEMAS`: request formats, requests,
records) and the responses several routes give (`card_response`, `flag_response`, the refusal
lists).

The route modules declare their operations with these; openapi.py puts them together. What the
route modules import is public here; names with an underscore are this module's own.
"""

from __future__ import annotations

from ...devices.printer import FAILURES
from ...domain.actors import ALL_ROLES
from ...domain.cards import ACTIVATION_TYPES, EXTERNAL_NO, ID_NUMBER, LOOKUP_FIELDS, PHONE, PIN
from ...domain.errors import ERRORS
from ...domain.formats import CARD_NO, REQUEST_ID, SERVICE_CODE, SQL_INT_MAX
from ...domain.ledger import MAX_POINTS
from ...domain.receipts import COPY_LABELS, RECEIPT_TYPES
from ...domain.reports import MAX_PAGE_SIZE
from ...domain.settings import OFFLINE_SWITCHES
from ...domain.staff import OPERATOR_NO, SUPERVISOR_NO
from ...domain.terminals import KEY_DIGITS, PRINTER_PARAMETERS
from ...store.codes import (
    CARD_STATUSES,
    GENDERS,
    JOURNAL_TYPES,
    OFFLINE_STATUSES,
    OFFLINE_TYPES,
    PAYMENT_METHODS,
    TRANSACTION_TYPES,
)

JSON = "application/json"


MONEY = r"^-?(?:0|[1-9][0-9]*)\.[0-9]{2}$"  # money.format_fen: yuan, always two decimals


# money.parse_amount: up to two decimals, and not zero
AMOUNT = r"^(?:[1-9][0-9]*(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"


SIX = "^[0-9]{6}$"  # trace and batch numbers; they wrap from 999999 to 000001


# staff.add_operator: two digits, not the supervisor's 00 nor the system operator's 99
NEW_OPERATOR_NO = f"^(?!(?:{SUPERVISOR_NO}|99)$)(?:{OPERATOR_NO.pattern})$"


TERMINAL_PASSWORD = "^[0-9]{4,8}$"  # staff.validate_new_password, all but the owner


TERMINAL_KINDS = ("pos", "backoffice")  # models.Terminal.kind


TERMINAL_KEY = f"^[0-9]{{{KEY_DIGITS}}}$"  # terminals.new_key


def ref_to(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def full_match(regex) -> str:
    """A compiled domain regex (used with fullmatch) as an anchored OpenAPI pattern."""
    return f"^(?:{regex.pattern})$"


def string_schema(pattern: str | None = None, *, nullable: bool = False, **extra) -> dict:
    schema = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    if nullable:
        schema["nullable"] = True
    return schema


def enum_schema(values, *, nullable: bool = False, **extra) -> dict:
    schema = {"type": "string", "enum": list(values), **extra}
    if nullable:  # OpenAPI 3.0: a nullable enum must list null among its values
        schema["nullable"] = True
        schema["enum"].append(None)
    return schema


def integer_schema(minimum: int | None = None, maximum: int | None = None, **extra) -> dict:
    schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def object_schema(properties: dict, required=(), *, closed: bool = True, **extra) -> dict:
    """An object schema; `closed` (additionalProperties false) where the code refuses or
    never sends other fields."""
    schema = {"type": "object", **extra, "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _money(description: str, *, nullable: bool = False) -> dict:
    return string_schema(MONEY, nullable=nullable, description=description, example="90.50")


def _date(description: str, *, nullable: bool = False) -> dict:
    return string_schema(None, nullable=nullable, format="date", description=description)


def _datetime(description: str) -> dict:
    return string_schema(None, format="date-time", description=description)


def _six(description: str, *, nullable: bool = True) -> dict:
    return string_schema(SIX, nullable=nullable, description=description, example="000001")


def request_body(schema: dict, example: dict | None = None) -> dict:
    content = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"required": True, "content": {JSON: content}}


def json_response(schema: dict, description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def parameter(name: str, where: str, schema: dict, description: str, required=False) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


def path_card_no() -> dict:
    return parameter("card_no", "path", ref_to("CardNo"), "卡号, 8 to 19 digits")


def path_operator_no() -> dict:
    return parameter("operator_no", "path", string_schema(None), "员工号")


def path_voucher_no() -> dict:
    return parameter(
        "voucher_no",
        "path",
        string_schema("^[0-9]{1,9}$"),
        "凭证号 as printed on the slip (leading zeros may be kept or dropped)",
    )


_REQUEST_FORMATS = {
    "CardNo": string_schema(
        full_match(CARD_NO), description="卡号 (card number): 8 to 19 ASCII digits."
    ),
    "Pin": string_schema(
        f"^(?:{PIN.pattern})?$",  # "" is no PIN, like null
        nullable=True,
        description=(
            'The cardholder\'s PIN (持卡人密码): exactly 6 digits. null or "" for a card '
            "without a PIN; on a card that has one, a missing PIN is a wrong PIN."
        ),
    ),
    "Amount": string_schema(
        AMOUNT,
        description=(
            'Yuan as a STRING with at most two decimals ("90", "90.5", "90.50"); not '
            "zero, no sign, no leading zeros, not above the `single_limit_fen` setting. A JSON "
            "number is refused (`invalid_amount`): a float has already lost exactness."
        ),
        example="90.50",
    ),
    "Points": integer_schema(
        1,
        MAX_POINTS,
        description="Points as a JSON integer (not a string, not true/false).",
        example=100,
    ),
    "RequestId": string_schema(
        full_match(REQUEST_ID),
        description=(
            "The caller's idempotency key, unique in the shop. Sent again with the same "
            "content it returns the original transaction (201, `Idempotent-Replayed: true`); "
            "with different content it is refused (`request_id_reused`). A refused request "
            "claims nothing: its id may be used again."
        ),
        example="pos1-20250301-0001",
    ),
    "ServiceCode": string_schema(
        f"^(?:{SERVICE_CODE.pattern})?$",
        nullable=True,
        description='服务代码 / 商品代码, optional: 1 to 20 letters or digits ("" = none).',
    ),
    "SupervisorPassword": string_schema(
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
    "ConsumeRequest": object_schema(
        {
            "type": enum_schema(["consume"]),
            "card_no": ref_to("CardNo"),
            "amount": ref_to("Amount"),
            "pin": ref_to("Pin"),
            "service_code": ref_to("ServiceCode"),
            "request_id": ref_to("RequestId"),
        },
        ["type", "card_no", "amount", "request_id"],
        description=(
            "储值消费 (consume): `amount` is the price; the member level's discount gives what "
            "is paid and debited; points are awarded on what was paid (⌊paid × multiplier ÷ "
            "points_unit⌋)."
        ),
    ),
    "RechargeRequest": object_schema(
        {
            "type": enum_schema(["recharge"]),
            "card_no": ref_to("CardNo"),
            "amount": ref_to("Amount"),
            "payment_method": enum_schema(PAYMENT_METHODS, description="支付方式"),
            "pin": ref_to("Pin"),
            "request_id": ref_to("RequestId"),
        },
        ["type", "card_no", "amount", "payment_method", "request_id"],
        description="储值充值 (recharge): credits the balance; no points.",
    ),
    "PointsEarnRequest": object_schema(
        {
            "type": enum_schema(["points_earn"]),
            "card_no": ref_to("CardNo"),
            "amount": ref_to("Amount"),
            "points": ref_to("Points"),
            "pin": ref_to("Pin"),
            "service_code": ref_to("ServiceCode"),
            "request_id": ref_to("RequestId"),
        },
        ["type", "card_no", "request_id"],
        description=(
            "积分累加 (points_earn): exactly one of `amount` (a purchase paid some other way; "
            "points by the consume rule, `no_points` if that gives 0) or `points`."
        ),
        oneOf=[{"required": ["amount"]}, {"required": ["points"]}],
    ),
    "PointsRedeemRequest": object_schema(
        {
            "type": enum_schema(["points_redeem"]),
            "card_no": ref_to("CardNo"),
            "points": ref_to("Points"),
            "pin": ref_to("Pin"),
            "service_code": ref_to("ServiceCode"),
            "request_id": ref_to("RequestId"),
        },
        ["type", "card_no", "points", "request_id"],
        description="积分消费 (points_redeem): debits points.",
    ),
}


REQUEST_OF_TYPE = {
    "consume": "ConsumeRequest",
    "recharge": "RechargeRequest",
    "points_earn": "PointsEarnRequest",
    "points_redeem": "PointsRedeemRequest",
}


_ACTIVATION = object_schema(
    {
        "activation_type": enum_schema(
            ACTIVATION_TYPES,
            nullable=True,
            description=(
                "激活类型: what the member is known by (default card_no). external_no or phone:"
                " a member without a card of ours; that field is required, card_no is left out"
                " and the shop issues a 16-digit card number starting with 8"
            ),
        ),
        "card_no": ref_to("CardNo"),
        "external_no": string_schema(
            full_match(EXTERNAL_NO), nullable=True, description="外卡号, 1 to 32 letters or digits"
        ),
        "phone": string_schema(full_match(PHONE), nullable=True, description="手机号码, 11 digits"),
        "name": string_schema(None, nullable=True, maxLength=40, description="holder's name"),
        "gender": enum_schema(GENDERS, nullable=True),
        "birthday": _date("YYYY-MM-DD, not after today", nullable=True),
        "id_number": string_schema(
            full_match(ID_NUMBER),
            nullable=True,
            description="身份证号码: 18 characters (check digit verified) or 15 digits",
        ),
        "level": string_schema(
            None, nullable=True, description="会员等级 name; the first level when omitted"
        ),
        "expires_on": _date("会员有效期, YYYY-MM-DD, not before today", nullable=True),
        "pin": ref_to("Pin"),
    },
    [],
    description=(
        '会员激活. Unknown fields are refused; "" counts as absent for the optional ones.'
        " card_no is required unless activation_type is external_no or phone."
    ),
)


_EDIT_MEMBER = object_schema(
    {
        name: _ACTIVATION["properties"][name]
        for name in ("name", "gender", "birthday", "id_number", "expires_on")
    }
    | {"level": string_schema(None, minLength=1, description="会员等级 name")},
    [],
    minProperties=1,
    description=(
        '修改会员资料: the fields to change, at least one; null or "" clears a field (not the '
        "level). Unknown fields are refused. expires_on may not be moved into the past."
    ),
)


SETTING_PROPERTIES = {
    "points_unit_fen": integer_schema(1, 100_000_00, description="fen of spending per point"),
    "single_limit_fen": integer_schema(1, 1_000_000_00, description="单笔交易限额, in fen"),
    "pin_attempt_limit": integer_schema(1, 10, description="wrong PINs in a row that lock the PIN"),
    "pin_lock_minutes": integer_schema(1, 24 * 60, description="how long a PIN stays locked"),
    "password_attempt_limit": integer_schema(
        1, 20, description="wrong staff passwords in a row that lock the staff number"
    ),
    "password_lock_minutes": integer_schema(
        1, 24 * 60, description="how long a staff number stays locked"
    ),
    "enabled_types": {
        "type": "array",
        "items": enum_schema(TRANSACTION_TYPES),
        "uniqueItems": True,
        "description": "开通的交易类型",
    },
    "web_idle_minutes": integer_schema(
        5, 12 * 60, description="a back-office session ends after this many idle minutes"
    ),
    "captcha_always": {
        "type": "boolean",
        "description": "the back office's sign-in always asks for the captcha",
    },
    "shop_address": string_schema(
        None, maxLength=60, description='门店地址, printed at the foot of each receipt; "": none'
    ),
    "shop_phone": string_schema(
        r"^$|^\+?[0-9][0-9 ()\-]{2,19}$",
        description='门店电话, printed at the foot of each receipt; "": none',
    ),
    "receipt_footer": string_schema(
        None, maxLength=60, description='签购单底部文字: the owner\'s line at the foot; "": none'
    ),
    "offline_types": {
        "type": "array",
        "items": enum_schema(OFFLINE_SWITCHES),
        "uniqueItems": True,
        "description": "开通的离线交易: 离线储值消费, 离线积分累加, 批量离线交易上传",
    },
    "offline_single_limit_fen": integer_schema(
        1, 1_000_000_00, description="离线单笔限额, in fen: the largest offline amount"
    ),
    "offline_card_total_fen": integer_schema(
        1, 10_000_000_00, description="offline total per card between uploads, in fen"
    ),
    "offline_card_count": integer_schema(
        1, 100, description="offline transactions per card between uploads"
    ),
    "offline_signin_hours": integer_schema(
        1, 72, description="how long a terminal's last sign-in may be reused offline"
    ),
    "offline_max_age_days": integer_schema(
        1, 90, description="an offline sale older than this is refused at upload"
    ),
    "backup_hourly": {
        "type": "boolean",
        "description": "back up every hour with activity (and daily); false: daily only",
    },
    "backup_keep_hourly": integer_schema(1, 1000, description="hourly backups kept"),
    "backup_keep_daily": integer_schema(1, 1000, description="daily backups kept"),
    "backup_keep_monthly": integer_schema(1, 1000, description="monthly backups kept"),
    "merchant_id": string_schema("^[0-9]{15}$", description="商户号"),
    "merchant_name": string_schema(None, minLength=1, maxLength=40, description="商户名"),
    "receipt_title": string_schema(None, minLength=1, maxLength=40, description="签购单名"),
}


# terminals.PARAMETERS: the POS manual's terminal parameters (终端参数设置)
TERMINAL_PARAMETERS = {
    "name": string_schema(
        r"\S", maxLength=40, description="终端名称, 1 to 40 characters (not only spaces; trimmed)"
    ),
    "receipt_copies": integer_schema(1, 2, description="签购单联数: 1 or 2 copies of each slip"),
    "standby_type": enum_schema(
        ["consume", "points_earn"],
        description="待机交易: 储值消费 or 积分累加 on the standby screen",
    ),
    "manual_entry": {"type": "boolean", "description": "手输卡号: card numbers may be typed"},
    "service_code_prompt": {
        "type": "boolean",
        "description": "服务代码: the terminal asks for a service code",
    },
    "next_trace_no": integer_schema(
        1, 999_999, description="流水号: the trace number the next transaction gets"
    ),
    "language": enum_schema(["zh", "en"], description="the terminal page's language"),
    "branch_id": integer_schema(
        1,
        SQL_INT_MAX,
        description="门店: the branch the terminal is at (GET /api/v1/branches); its "
        "transactions from then on are that branch's, those made before stay where they were",
    ),
    "clear_journal_view": {
        "type": "boolean",
        "enum": [True],
        "description": "清流水: the terminal's transaction query (GET /api/v1/batch) lists nothing "
        "older than now; the batch's totals and the journal keep everything",
    },
    "printer_url": string_schema(
        None,
        maxLength=200,
        description="the receipt printer (小票打印机): `tcp://HOST:9100`, `usb://VID:PID`, "
        "`serial:///dev/ttyS0?baudrate=9600`, `file:///dev/usb/lp0`, `cups://QUEUE`, or `none`",
        example="tcp://192.168.1.50:9100",
    ),
    "printer_encoding": enum_schema(
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
    "terminal_id": string_schema(None, description="终端号"),
    "name": string_schema(None, description="终端名称"),
    "kind": enum_schema(TERMINAL_KINDS, description="a POS terminal or the back office"),
    "batch_no": _six("the open batch (批次号)", nullable=False),
    "next_trace_no": _six("流水号 the next transaction gets", nullable=False),
    "receipt_copies": TERMINAL_PARAMETERS["receipt_copies"],
    "standby_type": TERMINAL_PARAMETERS["standby_type"],
    "manual_entry": TERMINAL_PARAMETERS["manual_entry"],
    "service_code_prompt": TERMINAL_PARAMETERS["service_code_prompt"],
    "language": TERMINAL_PARAMETERS["language"],
    "branch_id": TERMINAL_PARAMETERS["branch_id"],
    "branch_name": string_schema(None, description="门店名称"),
    "journal_view_from": {
        **_datetime("清流水: when the transaction query's list was last cleared (null: never)"),
        "nullable": True,
    },
    **{key: TERMINAL_PARAMETERS[key] for key in PRINTER_PARAMETERS},
}


PRINT_KINDS = (
    "probe", "receipt", "reprint", "feed", "settlement", "journal", "totals", "test",
    "offline_upload",
)  # fmt: skip


_PRINT_JOB = object_schema(
    {
        "id": integer_schema(1),
        "kind": enum_schema(
            PRINT_KINDS, description="what the job prints (probe: a connection test)"
        ),
        "name": string_schema(None, description="its name on the terminal's screen"),
        "voucher_no": _six("the receipt's voucher (receipt and reprint only)"),
        "state": enum_schema(["queued", "printing", "printed", "failed", "skipped"]),
        "error": string_schema(
            None, nullable=True, description="why it failed, in the device's words (for the log)"
        ),
        "reason": enum_schema(
            list(FAILURES),
            nullable=True,
            description="a failed job: why, a stable code (null unless failed)",
        ),
        "message": string_schema(
            None,
            nullable=True,
            description="a failed job: what the cashier reads, in Chinese (打印机未连接：…)",
        ),
        "attempts": integer_schema(0),
    },
    ["id", "kind", "name", "voucher_no", "state", "error", "reason", "message", "attempts"],
    nullable=True,
    description="A print job of the terminal's print queue (null: none yet).",
)


_RECORDS = {
    "Error": object_schema(
        {
            "error": enum_schema(
                ERRORS, description="stable code; see the x-error-codes of each call"
            ),
            "message": string_schema(None, description="the Chinese sentence a screen shows"),
            "attempts_left": integer_schema(
                0, description="wrong_pin: how many more wrong PINs before the lock"
            ),
            "locked_until": _datetime("pin_locked: when the PIN unlocks (shop time)"),
            "field": string_schema(None, description="the request field or parameter at fault"),
            "fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "bad_request: the fields this transaction type does not take",
            },
            "setting": string_schema(
                None, description="invalid_setting: the setting or terminal parameter at fault"
            ),
            "minutes_left": integer_schema(
                1, description="staff_locked: minutes until passwords are taken again"
            ),
            "current_status": enum_schema(
                CARD_STATUSES, description="invalid_status_change: the card's status now"
            ),
            "status": enum_schema(
                OFFLINE_STATUSES, description="offline_resolved: the offline upload's status now"
            ),
            "last_error": enum_schema(
                ["wrong_pin", "pin_unreadable"],
                description="offline_not_retriable: what the upload failed on",
            ),
        },
        ["error", "message"],
        description="Every refusal: `{error, message}` plus, for some codes, details.",
    ),
    "Level": object_schema(
        {
            "name": string_schema(None),
            "discount_pct": integer_schema(1, 100, description="88 = pays 88 % of the price"),
            "points_multiplier_pct": integer_schema(0, 10000, description="150 = points × 1.5"),
        },
        ["name", "discount_pct", "points_multiplier_pct"],
        nullable=True,
        description="会员等级 (member level); null on a card without one.",
    ),
    "Card": object_schema(
        {
            "card_no": ref_to("CardNo"),
            "external_no": string_schema(None, nullable=True),
            "phone": string_schema(None, nullable=True),
            "name": string_schema(None, nullable=True),
            "gender": enum_schema(GENDERS, nullable=True),
            "birthday": _date("生日", nullable=True),
            "id_number": string_schema(None, nullable=True),
            "level": ref_to("Level"),
            "expires_on": _date("会员有效期", nullable=True),
            "expired": {"type": "boolean", "description": "expires_on is before today"},
            "status": enum_schema(CARD_STATUSES),
            "has_pin": {"type": "boolean"},
            "pin_locked": {"type": "boolean", "description": "too many wrong PINs, for now"},
            "balance": _money("储值余额; only in the owner's view"),
            "points": integer_schema(0, description="可用积分; only in the owner's view"),
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
    "CardCandidates": object_schema(
        {
            "candidates": {
                "type": "array",
                "minItems": 1,
                "items": object_schema(
                    {
                        "matched_by": enum_schema(
                            LOOKUP_FIELDS, description="the card's number that `q` is"
                        ),
                        "card": ref_to("Card"),
                    },
                    ["matched_by", "card"],
                ),
            }
        },
        ["candidates"],
        description="The cards a typed entry names (GET /api/v1/cards/lookup), in order.",
    ),
    "Transaction": object_schema(
        {
            "type": enum_schema(JOURNAL_TYPES),
            "status": enum_schema(["success", "voided"], description="成功 / 已撤销"),
            "card_no": ref_to("CardNo"),
            "amount": _money("the balance movement, signed: consume -88.00, recharge 100.00"),
            "points": integer_schema(description="the points movement, signed"),
            "balance": _money("the card's balance after this transaction"),
            "points_balance": integer_schema(0, description="the card's points after it"),
            "price": _money("consume: the price entered, before the discount", nullable=True),
            "purchase_amount": _money(
                "points_earn: the purchase paid some other way", nullable=True
            ),
            "trace_no": _six("流水号, per terminal; null for an opening entry"),
            "voucher_no": string_schema(
                "^[0-9]{6,}$",
                nullable=True,
                description="凭证号, shop-wide, at least six digits; quote it to void",
                example="000001",
            ),
            "reference_no": string_schema(
                "^[0-9]{12}$", nullable=True, description="参考号 REF.NO: hhmmss + voucher"
            ),
            "batch_no": _six("批次号"),
            "terminal_id": string_schema(None, nullable=True, description="终端号"),
            "operator_no": string_schema(None, nullable=True, description="操作员号"),
            "operator_name": string_schema(None, nullable=True),
            "created_at": _datetime("in the shop's time zone, with its offset"),
            "settle_date": _date("清算日期: the shop-local date"),
            "service_code": string_schema(None, nullable=True),
            "payment_method": enum_schema(PAYMENT_METHODS, nullable=True),
            "offline": {"type": "boolean", "description": "离线交易: made offline, uploaded"},
            "sold_at": string_schema(
                None,
                nullable=True,
                format="date-time",
                description=(
                    "an offline transaction: when the terminal made the sale (shop time); "
                    "`created_at` is then its upload, which gave its batch and settle_date"
                ),
            ),
            "original_voucher_no": string_schema(
                None, nullable=True, description="a void: the voucher it reverses"
            ),
            "branch_id": integer_schema(
                1, description="门店: the branch it was made at (its terminal's then)"
            ),
            "branch_name": string_schema(None, description="门店名称: that branch's name now"),
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
            "sold_at",
            "original_voucher_no",
            "branch_id",
            "branch_name",
        ],  # fmt: skip
        description="One row of the journal (交易流水).",
    ),
    "Receipt": object_schema(
        {
            "receipt_title": string_schema(None, description="签购单名"),
            "merchant_name": string_schema(None, description="商户名"),
            "merchant_id": string_schema("^[0-9]{15}$", description="商户号"),
            "branch_name": string_schema(
                None,
                nullable=True,
                description="门店: the branch of a chain it was made at; null in a single shop",
            ),
            "terminal_id": string_schema(None, nullable=True, description="终端号"),
            "operator_no": string_schema(None, nullable=True, description="操作员号"),
            "operator_name": string_schema(None, nullable=True),
            "card_no": string_schema(
                "^[0-9]{0,6}[*]+[0-9]{4}$|^[*]+$",
                description="卡号, masked: the first 6 and last 4 digits",
                example="168086******7114",
            ),
            "holder_name": string_schema(
                None,
                nullable=True,
                description="持卡人, masked: the first character (张*); null without a name",
            ),
            "level_name": string_schema(None, nullable=True, description="the card's 会员等级"),
            "expires_on": _date("the card's 会员有效期", nullable=True),
            "type": enum_schema(RECEIPT_TYPES),
            "type_name": string_schema(None, description="the type in Chinese: 储值消费"),
            "type_code": string_schema(None, description="the POS's English code: SALE"),
            "batch_no": _six("批次号"),
            "voucher_no": _six("凭证号"),
            "reference_no": string_schema(
                "^[0-9]{12}$", nullable=True, description="参考号 REF.NO: hhmmss + voucher"
            ),
            "trace_no": _six("流水号"),
            "date": _date("in the shop's time zone"),
            "time": string_schema(
                "^[0-9]{2}:[0-9]{2}:[0-9]{2}$", description="HH:MM:SS, the shop's"
            ),
            "amount": _money("the money moved, unsigned; null for points", nullable=True),
            "price": _money(
                "consume: the price before the level's discount, where it differs",
                nullable=True,
            ),
            "discount_pct": integer_schema(
                1, 99, description="consume: the level's discount where it applied (88: 88折)"
            )
            | {"nullable": True},
            "discount": _money("consume: what the discount took off (优惠)", nullable=True),
            "purchase": _money("points_earn: the purchase paid some other way", nullable=True),
            "balance_after": _money("the card's balance after it"),
            "points": integer_schema(description="the points moved, signed; null for a recharge")
            | {"nullable": True},
            "points_after": integer_schema(0, description="the card's points after it"),
            "service_code": string_schema(None, nullable=True),
            "payment_method": string_schema(
                None,
                nullable=True,
                description="支付方式, in Chinese: a recharge's, 储值支付 for a consume",
            ),
            "signature_required": {
                "type": "boolean",
                "description": "the cardholder signs the slip (持卡人签名)",
            },
            "original_voucher_no": _six("a void: the voucher it reverses"),
            "original_type": enum_schema(
                TRANSACTION_TYPES, nullable=True, description="a void: the type it reverses"
            ),
            "original_type_name": string_schema(
                None, nullable=True, description="a void: what it reverses (储值消费)"
            ),
            "voided": {"type": "boolean", "description": "voided since: the slip no longer stands"},
            "offline": {
                "type": "boolean",
                "description": "离线交易: made offline; `date` and `time` are then its upload",
            },
            "sold_at": string_schema(
                None,
                nullable=True,
                description="an offline one: the sale, YYYY-MM-DD HH:MM:SS (shop time)",
            ),
            "copies": {
                "type": "array",
                "items": enum_schema(COPY_LABELS),
                "minItems": 1,
                "description": "one label per copy the terminal prints",
            },
            "shop_address": string_schema(
                None,
                description="门店地址: in a chain the branch's address where it has one, else the "
                'settings\' ("": none)',
            ),
            "shop_phone": string_schema(None, description='门店电话, from the settings ("": none)'),
            "receipt_footer": string_schema(None, description='签购单底部文字 ("": none)'),
            "lines": {
                "type": "array",
                "items": ref_to("ReceiptLine"),
                "description": "the slip's labelled lines, in their order: what every drawer shows",
            },
            "footer": {
                "type": "array",
                "items": ref_to("ReceiptLine"),
                "description": "after the signature: the shop's address, phone and the owner's "
                'line (label ""), those that are set',
            },
        },
        [
            "receipt_title",
            "merchant_name",
            "merchant_id",
            "branch_name",
            "terminal_id",
            "operator_no",
            "operator_name",
            "card_no",
            "holder_name",
            "level_name",
            "expires_on",
            "type",
            "type_name",
            "type_code",
            "batch_no",
            "voucher_no",
            "reference_no",
            "trace_no",
            "date",
            "time",
            "amount",
            "price",
            "discount_pct",
            "discount",
            "purchase",
            "balance_after",
            "points",
            "points_after",
            "service_code",
            "payment_method",
            "signature_required",
            "original_voucher_no",
            "original_type",
            "original_type_name",
            "voided",
            "offline",
            "sold_at",
            "copies",
            "shop_address",
            "shop_phone",
            "receipt_footer",
            "lines",
            "footer",
        ],  # fmt: skip
        description=(
            "签购单: what the receipt of one transaction says, as plain data "
            "(domain/receipts.py); the layout is the drawer's."
        ),
    ),
    "ReceiptLine": object_schema(
        {
            "key": string_schema("^[a-z_]+$", description="what the line is: card_no, amount, …"),
            "label": string_schema(None, description="the label in Chinese: 卡号"),
            "label_code": string_schema(None, description="the POS's English label: CARD NO."),
            "value": string_schema(None, nullable=True, description="its text; null: a dash"),
            "value_code": string_schema(
                None, description="after the value: the type's SALE, or empty"
            ),
            "money": {"type": "boolean", "description": "the value is yuan with two decimals"},
            "translate": {
                "type": "boolean",
                "description": "the value is Chinese the message catalogue translates",
            },
        },
        ["key", "label", "label_code", "value", "value_code", "money", "translate"],
        description="One labelled line of a receipt: 卡号 CARD NO.  168086******7114.",
    ),
    "TransactionPage": object_schema(
        {
            "transactions": {"type": "array", "items": ref_to("Transaction")},
            "total": integer_schema(0, description="rows matching the filters, all pages"),
            "page": integer_schema(1),
            "per_page": integer_schema(1, MAX_PAGE_SIZE),
        },
        ["transactions", "total", "page", "per_page"],
        description="One page of the journal, newest first.",
    ),
    "DayStats": object_schema(
        {
            "date": _date("the settlement date (absent in the totals)"),
            "count": integer_schema(0, description="successful transactions, voided ones excluded"),
            "recharge_total": _money("储值充值 total"),
            "consume_total": _money("储值消费 total (what was debited)"),
            "balance_net": _money("储值沉淀: recharge_total - consume_total"),
            "points_awarded": integer_schema(0, description="积分奖励"),
            "points_redeemed": integer_schema(0, description="积分兑换"),
            "points_net": integer_schema(description="积分沉淀: awarded - redeemed"),
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
    "DailyStats": object_schema(
        {"days": {"type": "array", "items": ref_to("DayStats")}, "totals": ref_to("DayStats")},
        ["days", "totals"],
        description="One DayStats per date of the range (zeros included), and the totals.",
    ),
    "TypeTotals": object_schema(
        {
            "count": integer_schema(0),
            "amount": _money("sum of the signed amounts (consume is negative)"),
            "points": integer_schema(description="sum of the signed points"),
        },
        ["count", "amount", "points"],
    ),
    "Batch": object_schema(
        {
            "terminal_id": string_schema(None, description="终端号"),
            "batch_no": _six("批次号", nullable=False),
            "count": integer_schema(0, description="successful transactions of the batch"),
            "void_count": integer_schema(0, description="voids posted in the batch"),
            "types": object_schema(
                {kind: ref_to("TypeTotals") for kind in TRANSACTION_TYPES},
                TRANSACTION_TYPES,
            ),
            "settled_at": _datetime("settlement only: when the batch was closed"),
            "settle_date": _date("settlement only: 清算日期"),
            "transactions": {
                "type": "array",
                "items": ref_to("Transaction"),
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
    "Session": object_schema(
        {
            "token": string_schema(None, description="send as `Authorization: Bearer <token>`"),
            "operator_no": string_schema(None),
            "name": string_schema(None),
            "role": enum_schema(sorted(ALL_ROLES)),
            "terminal_id": string_schema(None),
            "batch_no": _six("the terminal's open batch", nullable=False),
            "idle_seconds": integer_schema(
                1,
                description="only a session opened with POST /api/v1/session/system: it ends "
                "after this many idle seconds, and with the session it was opened from",
            ),
        },
        ["token", "operator_no", "name", "role", "terminal_id", "batch_no"],
    ),
    "Whoami": object_schema(
        {
            "operator_no": string_schema(None),
            "name": string_schema(None),
            "role": enum_schema(sorted(ALL_ROLES)),
            "terminal_id": string_schema(None),
            "locked": {
                "type": "boolean",
                "description": "locked (锁定) until POST /api/v1/session/unlock",
            },
        },
        ["operator_no", "name", "role", "terminal_id", "locked"],
    ),
    "StaffMember": object_schema(
        {
            "operator_no": string_schema(
                None, description="员工号: 00 (主管), 01–98 (操作员), 99 (系统操作员) or owner"
            ),
            "name": string_schema(None),
            "role": enum_schema(sorted(ALL_ROLES)),
            "active": {
                "type": "boolean",
                "description": "false once removed (删除操作员): cannot sign in",
            },
            "password_set": {
                "type": "boolean",
                "description": "false while still on the role's default password (owner: none)",
            },
            "branch_id": {
                **integer_schema(1),
                "nullable": True,
                "description": "门店: the one branch this member is limited to (sign-in, "
                "authority, reports); null: the whole chain",
            },
        },
        ["operator_no", "name", "role", "active", "password_set", "branch_id"],
        description="A staff member (员工); never a password.",
    ),
    "Branch": object_schema(
        {
            "id": integer_schema(1, description="the branch's id (branch_id elsewhere)"),
            "name": string_schema(None, description="门店名称"),
            "address": string_schema(None, description="地址: printed on its slips; may be empty"),
            "terminals": integer_schema(0, description="how many terminals are at it"),
        },
        ["id", "name", "address", "terminals"],
        description="A branch (门店) of the chain; a single shop has one.",
    ),
    "Terminal": object_schema(
        _TERMINAL,
        list(_TERMINAL),
        description="A terminal (终端) and its parameters (终端参数).",
    ),
    "NewTerminal": object_schema(
        {
            **_TERMINAL,
            "terminal_key": string_schema(
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
    "TerminalKeyChecked": object_schema(
        {"terminal_id": string_schema(None, description="终端号"), "name": _TERMINAL["name"]},
        ["terminal_id", "name"],
        description="The terminal whose key was right (or which has no key).",
    ),
    "PrintJob": _PRINT_JOB,
    "PrinterStatus": object_schema(
        {
            "printer": enum_schema(
                ["none", "unknown", "printing", "ok", "failed"],
                description="none: no printer set; unknown: not tried yet; ok: the last job "
                "(or connection test) got through; failed: it did not (see `error`)",
            ),
            "error": string_schema(
                None, nullable=True, description="the last failure, in the device's words"
            ),
            "reason": enum_schema(
                list(FAILURES),
                nullable=True,
                description="failed: why, a stable code (see the reasons in docs/api.md)",
            ),
            "message": string_schema(
                None, nullable=True, description="failed: what the cashier reads, in Chinese"
            ),
            "job": ref_to("PrintJob"),
        },
        ["printer", "error", "reason", "message", "job"],
        description="The terminal's receipt printer and its last job.",
    ),
    "OwnTerminal": object_schema(
        {
            **_TERMINAL,
            "enabled_types": SETTING_PROPERTIES["enabled_types"],
            "merchant_id": SETTING_PROPERTIES["merchant_id"],
            "merchant_name": SETTING_PROPERTIES["merchant_name"],
            "receipt_title": SETTING_PROPERTIES["receipt_title"],
            "printer": ref_to("PrinterStatus"),
        },
        [*_TERMINAL, "enabled_types", "merchant_id", "merchant_name", "receipt_title", "printer"],
        description=(
            "The caller's terminal, with what its screens need of the shop's settings: a type "
            "not in `enabled_types` is not on the menu."
        ),
    ),
    "TerminalChange": object_schema(
        TERMINAL_PARAMETERS,
        minProperties=1,
        description=(
            "Any non-empty subset of the terminal parameters; all are checked before any is "
            "written. A key that is not a parameter is `bad_request`; a value a parameter does "
            "not take is `invalid_setting` (with `setting`)."
        ),
    ),
    "Balance": object_schema(
        {"card_no": ref_to("CardNo"), "balance": _money("储值余额"), "points": integer_schema(0)},
        ["card_no", "balance", "points"],
        description="储值查询 / 积分查询.",
    ),
    "Settings": object_schema(
        SETTING_PROPERTIES,
        list(SETTING_PROPERTIES),
        description="Shop-wide settings (终端参数 / 交易参数) and the merchant's own fields.",
    ),
    "SettingsChange": object_schema(
        SETTING_PROPERTIES,
        minProperties=1,
        description=(
            "Any non-empty subset of Settings; all are checked before any is written. An "
            "unknown key or a bad value is refused (`invalid_setting`, with `setting`)."
        ),
    ),
}


_OFFLINE_UPLOAD = object_schema(
    {
        "id": integer_schema(1, description="the upload's number in 离线对账"),
        "terminal_id": string_schema("^[0-9]{8}$", description="终端号"),
        "offline_trace_no": integer_schema(1, description="离线流水号: the terminal's own"),
        "type": enum_schema(OFFLINE_TYPES, nullable=True, description="as sent"),
        "card_no": string_schema(None, nullable=True, description="as sent"),
        "amount": _money("consume: the price; points_earn: the purchase", nullable=True),
        "points": integer_schema(1, nullable=True, description="points_earn: points typed"),
        "service_code": string_schema(None, nullable=True),
        "operator_no": string_schema(None, nullable=True, description="who made the sale"),
        "sold_at": string_schema(
            None, nullable=True, format="date-time", description="the sale (shop time)"
        ),
        "received_at": _datetime("the first upload (shop time)"),
        "status": enum_schema(
            OFFLINE_STATUSES,
            description=(
                "applied (已入账), failed (待对账: open), paid_other (已另行收款), "
                "written_off (已核销)"
            ),
        ),
        "status_name": string_schema(None, description="the status in Chinese"),
        "error": string_schema(
            None, nullable=True, description="the refusal code of the last attempt"
        ),
        "message": string_schema(None, nullable=True, description="why, as a screen says it"),
        # OpenAPI 3.0 has no nullable $ref: null is the second alternative (`nullable` next
        # to a bare `oneOf` does not admit it).
        "transaction": {
            "oneOf": [ref_to("Transaction"), {"type": "object", "nullable": True, "enum": [None]}],
            "description": "the journal row, once applied; null before",
        },
        "resolved_at": string_schema(None, nullable=True, format="date-time"),
        "resolved_by": string_schema(None, nullable=True, description="staff number"),
        "payment_method": enum_schema(
            PAYMENT_METHODS, nullable=True, description="paid_other: how it was paid"
        ),
        "note": string_schema(
            None, nullable=True, description="paid_other: the note; written_off: the reason"
        ),
    },
    [
        "id",
        "terminal_id",
        "offline_trace_no",
        "type",
        "card_no",
        "amount",
        "points",
        "service_code",
        "operator_no",
        "sold_at",
        "received_at",
        "status",
        "status_name",
        "error",
        "message",
        "transaction",
        "resolved_at",
        "resolved_by",
        "payment_method",
        "note",
    ],  # fmt: skip
    description="An offline transaction as uploaded (批量离线交易上传) and its outcome.",
)

_OFFLINE_RECORDS = {
    "OfflineUploadRequest": object_schema(
        {
            "terminal_id": string_schema(
                "^[0-9]{8}$", description="the terminal that made the sale: the caller's"
            ),
            "offline_trace_no": integer_schema(
                1, description="离线流水号, from a block of POST /api/v1/offline/traces"
            ),
            "type": enum_schema(OFFLINE_TYPES),
            "card_no": ref_to("CardNo"),
            "amount": ref_to("Amount"),
            "points": ref_to("Points"),
            "service_code": ref_to("ServiceCode"),
            "operator_no": string_schema(None, description="who made the sale (操作员号)"),
            "sold_at": string_schema(
                None,
                format="date-time",
                description="when the sale was made, ISO 8601 with its offset",
                example="2026-12-05T10:20:30+08:00",
            ),
            "sealed_pin": string_schema(
                r"^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
                nullable=True,
                description=(
                    "The PIN typed offline, sealed to `public_key` of GET "
                    "/api/v1/offline/config: ECDH P-256 with a new key, HKDF-SHA256 (no "
                    'salt, info "kakatong offline pin v1"), AES-256-GCM with the associated '
                    "data of the sale's terminal_id, offline_trace_no, card_no, type, amount, "
                    'points, service_code and sold_at as sent ("" for one not sent), joined '
                    'by colons; sent as "v1." and the base64url (unpadded) of the new public '
                    "key (uncompressed point), the 12-byte IV and the ciphertext, joined by "
                    "dots. null: no PIN typed."
                ),
            ),
        },
        ["terminal_id", "offline_trace_no", "type", "card_no", "operator_no", "sold_at"],
        description=(
            "One offline sale. consume takes `amount`; points_earn `amount` (a purchase "
            "paid some other way) or `points`."
        ),
    ),
    "OfflineUpload": _OFFLINE_UPLOAD,
    "OfflineConfig": object_schema(
        {
            "types": {
                "type": "array",
                "items": enum_schema(OFFLINE_SWITCHES),
                "description": "the offline_types setting: what the menu 9.离线交易 offers",
            },
            "single_limit_fen": integer_schema(1, description="离线单笔限额"),
            "card_total_fen": integer_schema(1, description="offline total per card"),
            "card_count": integer_schema(1, description="offline transactions per card"),
            "signin_hours": integer_schema(1, description="a sign-in reused offline this long"),
            "max_age_days": integer_schema(1, description="upload within this many days"),
            "blocked": {
                "type": "array",
                "description": "cards the terminal may not take offline",
                "items": object_schema(
                    {
                        "card_no": ref_to("CardNo"),
                        "reason": enum_schema(["inactive", "frozen", "lost", "expired"]),
                        "from": string_schema(
                            None,
                            nullable=True,
                            format="date",
                            description="expired: the first shop date it may not be used",
                        ),
                    },
                    ["card_no", "reason", "from"],
                ),
            },
            "public_key": string_schema(
                None, description="P-256 SubjectPublicKeyInfo (DER), base64: seal PINs to it"
            ),
            "server_time": _datetime("the server's clock (shop time)"),
        },
        [
            "types",
            "single_limit_fen",
            "card_total_fen",
            "card_count",
            "signin_hours",
            "max_age_days",
            "blocked",
            "public_key",
            "server_time",
        ],  # fmt: skip
    ),
    "OfflineTraces": object_schema(
        {"first": integer_schema(1), "last": integer_schema(1)},
        ["first", "last"],
        description="offline trace numbers first..last, handed to this terminal only",
    ),
    "OfflineUploadPage": object_schema(
        {
            "uploads": {"type": "array", "items": ref_to("OfflineUpload")},
            "total": integer_schema(0),
            "page": integer_schema(1),
            "per_page": integer_schema(1),
            "totals": object_schema(
                {
                    status: object_schema(
                        {"count": integer_schema(0), "amount": _money("consume amounts")},
                        ["count", "amount"],
                    )
                    for status in OFFLINE_STATUSES
                },
                list(OFFLINE_STATUSES),
                description="every upload by status: how many, and their consume amounts",
            ),
        },
        ["uploads", "total", "page", "per_page", "totals"],
    ),
}


SCHEMAS = {
    **_REQUEST_FORMATS,
    **_TRANSACTION_REQUESTS,
    "ActivateCardRequest": _ACTIVATION,
    "EditMemberRequest": _EDIT_MEMBER,
    **_RECORDS,
    **_OFFLINE_RECORDS,
}


REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when the request_id was seen before and this is the original",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


CARD_STATUS_REFUSALS = ("card_inactive", "card_frozen", "card_lost", "card_expired")


PIN_REFUSALS = ("wrong_pin", "pin_locked")


SUPERVISOR_REFUSALS = (
    "bad_request",
    "staff_locked",
    "wrong_password",
    "password_change_required",
)


def card_response(description: str = "the card") -> dict:
    return json_response(
        ref_to("Card"), f"{description} (balance and points in the owner's view only)"
    )


def flag_response(name: str) -> dict:
    """A small `{card_no, <name>: true}` acknowledgement."""
    return json_response(
        object_schema(
            {"card_no": ref_to("CardNo"), name: {"type": "boolean", "enum": [True]}},
            ["card_no", name],
        ),
        "done",
    )


def locked_schema(value: bool) -> dict:
    return object_schema({"locked": {"type": "boolean", "enum": [value]}}, ["locked"])


def changed_response() -> dict:
    return json_response(
        object_schema(
            {"operator_no": string_schema(None), "changed": {"type": "boolean", "enum": [True]}},
            ["operator_no", "changed"],
        ),
        "changed",
    )
