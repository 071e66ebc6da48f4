"""The OpenAPI 3 document of /api/v1, served at /api/openapi.json: info, tags, then the paths
gathered from the routes' declarations (`contract.OPERATIONS`, in the order the route modules
declare them), then the components (schemas.py).

Each route declares its contract once, next to its view, with `@operation` (contract.py): the
same declaration registers the route and its role guard. Each operation's `x-error-codes` maps
the codes it can answer to their HTTP status; `x-roles` lists who may call it (empty for the
calls that need no session).

docs/api.md is the human companion; tests/test_openapi.py checks both against the app.
"""

from __future__ import annotations

import copy

from ... import __version__
from .contract import OPERATIONS
from .schemas import SCHEMAS


def _paths() -> dict:
    paths: dict[str, dict] = {}
    for declared in OPERATIONS:
        paths.setdefault(declared.path, {})[declared.method.lower()] = declared.document()
    return copy.deepcopy(paths)  # callers may change their copy


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
`method_not_allowed` (405), a full disk `storage_full` (503: nothing was written), a chain's \
database too busy to take a write `database_busy` (503: nothing was written; send it again), a \
fault of the server `internal_error` (500)."""


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
            {"name": "branches", "description": "门店: the branches of a chain"},
            {"name": "cards", "description": "会员卡: activation, holder, PIN, status, query"},
            {"name": "transactions", "description": "the ledger: post, look up, void"},
            {"name": "batch", "description": "批次 and 结算"},
            {"name": "reports", "description": "交易统计"},
            {"name": "offline", "description": "离线交易: offline sales, their upload, 离线对账"},
            {"name": "settings", "description": "终端参数 / 交易参数"},
        ],
        "paths": _paths(),
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
