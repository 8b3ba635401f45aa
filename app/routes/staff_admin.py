"""The admins' page of staff accounts: every account with its role, and a form to change it.

Accounts are still made and removed on the command line (`letter-campaign staff add`), where a
password can be typed without passing through a page. A change of role takes effect on the
account's next request (the role is read on every one) and goes to the audit log; the last admin
keeps their role, so that someone can always manage accounts.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.routes.dashboard import (
    DB,
    NO_STORE,
    AdminForm,
    AdminPage,
    Now,
    _render,
    staff_context,
)
from app.storage.models import Staff, StaffSession
from app.storage.operations import audit
from app.storage.staff import ROLES, LastAdmin, StaffError, as_utc, list_staff, set_role

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    row: StaffSession,
    db: Session,
    now: datetime,
    error: str = "",
    status: int = 200,
) -> Response:
    context = staff_context(db, row, "staff") | {
        "accounts": [
            (staff, as_utc(staff.created_at), sessions) for staff, sessions in list_staff(db, now)
        ],
        "roles": ROLES,
        "error": error,
    }
    db.commit()
    return _render(request, "staff/staff.html", context, status)


@router.get("/dashboard/staff")
def staff_accounts(request: Request, row: AdminPage, db: DB, now: Now) -> Response:
    return _page(request, row, db, now)


@router.post("/dashboard/staff/{staff_id}/role")
def change_role(
    request: Request,
    staff_id: int,
    row: AdminForm,
    db: DB,
    now: Now,
    role: Annotated[str, Form()] = "",
) -> Response:
    # On PostgreSQL the admins' rows are locked, then the account's, before its role is read:
    # two changes sent at once (two tabs, two admins) take turns, always locking in this order,
    # and the second reads the role the first left, so a change sent twice is made and
    # audited once. SQLite's write lock, taken at the first statement, does the same.
    db.execute(select(Staff.id).where(Staff.role == "admin").order_by(Staff.id).with_for_update())
    staff = db.get(Staff, staff_id, with_for_update=True)
    if staff is None:
        raise HTTPException(404, "no such staff account")
    try:
        before = set_role(db, staff, role)
    except LastAdmin as exc:
        db.rollback()
        return _page(request, row, db, now, f"Nothing was changed: {exc}.", 409)
    except StaffError as exc:
        db.rollback()
        return _page(request, row, db, now, f"Nothing was changed. role: {exc}.", 422)
    if before != role:
        actor = db.get(Staff, row.staff_id).email  # type: ignore[union-attr]
        audit(db, actor, "staff role changed", f"{staff.email}: {before} -> {role}")
    db.commit()
    return RedirectResponse("/dashboard/staff", 303, headers=NO_STORE)
