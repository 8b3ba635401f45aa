"""The second step of a staff login: the six-digit code (or a recovery code) after the password.

The login form sends an account with a second factor here with a signed, short-lived cookie that
says its password was right (app/routes/dashboard.py); a session opens only when the code is
right too. Codes are tried against the same locks and budget as passwords (app/storage/staff.py).
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.routes.dashboard import (
    DB,
    DEVICE_COOKIE,
    FORM_EXPIRED,
    NO_STORE,
    SECOND_STEP_COOKIE,
    Now,
    _login_page,
    _render,
    _secret,
    logged_in,
)
from app.storage.staff import LoginRefused, check_second_factor, second_step_staff_id

CODE_REFUSED = (
    "Wrong code, or a code used already: each opens one login, so wait for the app's next "
    "one. After several failed tries, codes are refused for a while, even the right one: try "
    "again later, or ask whoever runs the service (letter-campaign staff list shows locks)."
)

router = APIRouter(include_in_schema=False)


def _code_page(request: Request, token: str, status: int = 200, error: str = "") -> Response:
    """The code form; it carries the cookie's token too, so that only this browser's own form
    is taken (a double submit, as the login form does)."""
    context = {"csrf_token": token, "error": error, "enrol": False}
    return _render(request, "staff/second_factor.html", context, status)


@router.get("/login/code")
def code_form(request: Request, now: Now) -> Response:
    token = request.cookies.get(SECOND_STEP_COOKIE) or ""
    if second_step_staff_id(_secret(request), token, token, now) is None:
        return RedirectResponse("/login", 303, headers=NO_STORE)
    return _code_page(request, token)


@router.post("/login/code")
def check_code(
    request: Request,
    db: DB,
    now: Now,
    code: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    token = request.cookies.get(SECOND_STEP_COOKIE)
    staff_id = second_step_staff_id(_secret(request), token, csrf_token, now)
    if token is None or staff_id is None:
        return _login_page(request, 403, FORM_EXPIRED)
    try:
        staff = check_second_factor(
            db,
            staff_id,
            code,
            now,
            secret=_secret(request),
            address=request.client.host if request.client else "",
            device=request.cookies.get(DEVICE_COOKIE),
        )
    except LoginRefused:
        db.commit()
        return _code_page(request, token, 401, CODE_REFUSED)
    return logged_in(request, db, staff, now)
