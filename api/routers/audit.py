"""GET /audit: the audit log of the caller's counties, for county admins (审计日志)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from api.deps import PageDep, SessionDep, json_response
from api.schemas.auth import AuditPage
from api.schemas.problem import COMMON, problems
from api.security import PrincipalDep
from gridmap import audit
from gridmap.vocabulary import AuditAction, Permission

router = APIRouter(tags=["audit 审计"], responses=COMMON)


@router.get(
    "/audit", summary="Audit log / 审计日志", response_model=AuditPage, responses=problems(403)
)
def audit_log(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=64, description="username / 操作人")] = None,
    action: AuditAction | None = None,
    resource: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,32}$", description="incident, worker, account…")
    ] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Response:
    """Every write and sensitive read in the caller's counties matching the filters, newest
    first; rows cannot be changed or deleted by anyone.
    """
    principal.require(Permission.READ_AUDIT)
    total, items = audit.search(
        session,
        principal,
        actor=actor,
        action=action,
        resource=resource,
        resource_id=resource_id,
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return json_response(
        {"total": total, "limit": page.limit, "offset": page.offset, "items": items}
    )
