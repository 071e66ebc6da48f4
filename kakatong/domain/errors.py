"""Refusals as values: a stable code, the Chinese sentence a screen shows, and an HTTP status.

The domain raises `LedgerError("insufficient_balance")`; the edges (API, pages, CLI) translate
it once. Every code the domain can raise is listed here, so the API document and the screens
cannot name one that does not exist.
"""

from __future__ import annotations

# code -> (HTTP status, message shown to staff)
ERRORS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "请求格式不正确"),
    "invalid_amount": (400, "金额格式不正确"),
    "invalid_points": (400, "积分必须是 1 到 1000000 之间的整数"),
    "over_limit": (400, "金额超过单笔交易限额"),
    "invalid_card_no": (400, "卡号必须是 8 到 19 位数字"),
    "invalid_pin": (400, "密码必须是 6 位数字"),
    "invalid_phone": (400, "手机号码格式不正确"),
    "invalid_id_number": (400, "身份证号码格式不正确"),
    "invalid_date": (400, "日期格式不正确"),
    "invalid_password": (400, "新密码格式不正确"),
    "invalid_setting": (400, "参数值不正确"),
    "invalid_status_change": (409, "卡状态不能这样变更"),
    "not_signed_in": (401, "请先签到"),
    "wrong_password": (403, "密码错误"),
    "password_change_required": (403, "初始密码必须先修改"),
    "password_not_set": (403, "该账户尚未设置密码"),
    "staff_disabled": (403, "该员工已停用"),
    "staff_locked": (403, "密码错误次数过多，请稍后再试"),
    "not_permitted": (403, "无权进行此操作"),
    "terminal_required": (400, "请指定终端号"),
    "terminal_not_found": (404, "终端号不存在"),
    "terminal_exists": (409, "该终端号已存在"),
    "invalid_terminal_id": (400, "终端号必须是 8 位数字"),
    "terminal_key_required": (401, "请输入终端密钥"),
    "wrong_terminal_key": (403, "终端密钥错误"),
    "staff_not_found": (404, "员工号不存在"),
    "staff_exists": (409, "该操作员号已存在"),
    "invalid_staff_no": (400, "操作员号必须是两位数字，不能是 00 或 99"),
    "terminal_locked": (423, "终端已锁定，请输入操作员密码解锁"),
    "card_not_found": (404, "卡号不存在"),
    "card_exists": (409, "该卡已激活"),
    "phone_taken": (409, "该手机号码已绑定其他卡"),
    "external_no_taken": (409, "该外卡号已绑定其他卡"),
    "level_not_found": (404, "会员等级不存在"),
    "level_exists": (409, "该会员等级已存在"),
    "card_inactive": (409, "该卡未激活"),
    "card_frozen": (409, "该卡已冻结"),
    "card_lost": (409, "该卡已挂失"),
    "card_expired": (409, "该卡已过有效期"),
    "wrong_pin": (403, "密码错误"),
    "pin_locked": (403, "密码错误次数过多，已锁定"),
    "insufficient_balance": (409, "余额不足"),
    "insufficient_points": (409, "积分不足"),
    "no_points": (409, "金额不足以累加积分"),
    "transaction_disabled": (403, "该交易未开通"),
    "transaction_not_found": (404, "原交易不存在"),
    "not_voidable": (409, "该交易不能撤销"),
    "already_voided": (409, "原交易已撤销"),
    "batch_closed": (409, "原交易所在批次已结算，不能撤销"),
    "void_refused": (409, "撤销后余额或积分将为负数，不能撤销"),
    "card_mismatch": (409, "此卡不是原交易的卡，请刷原交易的卡"),
    "batch_settled": (409, "该批次已经结算过"),
    "request_id_reused": (409, "请求号已用于另一笔交易"),
    "offline_trace_reused": (409, "该离线流水号已用于另一笔离线交易"),
    "sale_time_in_future": (409, "离线交易时间晚于服务器时间，请检查终端时钟"),
    "sale_time_too_old": (409, "离线交易已超过上传期限"),
    "pin_unreadable": (409, "离线密码无法解密"),
    "offline_not_found": (404, "离线交易不存在"),
    "offline_resolved": (409, "该离线交易已处理过"),
    "offline_not_retriable": (409, "密码不对的离线交易不能重新入账，请另行收款或核销"),
    "not_found": (404, "页面不存在"),
    "method_not_allowed": (405, "不支持该请求方法"),
    "payload_too_large": (413, "请求内容过大"),
    "too_many_streams": (503, "刷卡推送连接已满，请稍后重试"),
    "storage_full": (503, "存储空间已满，本次操作未完成，请联系管理员清理"),
    "database_busy": (503, "系统繁忙，本次操作未完成，请重试"),
    "branch_not_found": (404, "门店不存在"),
    "branch_exists": (409, "该门店名称已存在"),
    "wrong_branch": (403, "该员工不属于本门店"),
    "https_required": (403, "请使用安全连接（HTTPS）访问"),
    "https_unavailable": (503, "安全连接（HTTPS）未能启动，暂不能从其他设备访问，请联系管理员"),
    "printer_not_configured": (409, "未配置打印机"),
    "no_receipt": (404, "没有可重印的签购单"),
    "no_settlement": (404, "没有可重印的结算单"),
    "internal_error": (500, "系统内部错误，请联系管理员"),
}


class LedgerError(Exception):
    """A refusal with a stable code. Extra keyword arguments travel to the JSON body."""

    def __init__(self, code: str, message: str | None = None, **details):
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.status, default = ERRORS[code]
        self.message = message or default
        self.details = details
        super().__init__(f"{code}: {self.message}")

    @classmethod
    def for_http(cls, status: int | None) -> LedgerError:
        """The refusal for an HTTP error the framework raised; a code always keeps its status,
        so an unlisted 4xx answers as bad_request (400) and anything else as internal_error."""
        code = HTTP_ERROR_CODES.get(status or 500)
        if code is None:
            code = "bad_request" if status and 400 <= status < 500 else "internal_error"
        return cls(code)

    def as_dict(self) -> dict:
        return {"error": self.code, "message": self.message, **self.details}


# HTTP errors raised by the framework itself (no route, wrong method, unreadable body).
HTTP_ERROR_CODES = {
    400: "bad_request",
    403: "not_permitted",  # a back-office page the signed-in role may not open
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "internal_error",
}
