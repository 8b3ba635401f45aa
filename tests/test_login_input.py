"""What the login form does with input no staff address can hold: control characters are
refused with a 422 naming the field before any query, and nothing typed reaches a log."""

import logging

import pytest

from tests.staff_pages import csrf_token, log_in

TYPED = "a\x00b@x.org"


@pytest.mark.parametrize(
    "email", [TYPED, "staff\x0b@example.org", "staff@example.org\x7f", "\x1bstaff@example.org"]
)
def test_a_control_character_in_the_email_is_refused_with_422_naming_the_field(
    client, staff_account, email, caplog
):
    caplog.set_level(logging.DEBUG)
    refused = log_in(client, email, "a long staff password")
    assert refused.status_code == 422
    assert "The email address cannot contain control characters." in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert email not in refused.text
    assert email not in caplog.text and email.replace("\x00", "") not in caplog.text
    assert "b@x.org" not in caplog.text and "staff@example.org" not in caplog.text
    # The form still works, from the page the refusal shows.
    token = csrf_token(refused.text)
    again = client.post(
        "/login",
        data={"email": staff_account[0], "password": staff_account[1], "csrf_token": token},
        follow_redirects=False,
    )
    assert again.status_code == 303


def test_a_nul_byte_in_the_email_never_reaches_the_database(app, client, monkeypatch):
    """On PostgreSQL a NUL in a query parameter was a 500, its parameters in the log."""
    statements: list[str] = []

    from sqlalchemy import event

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", seen)
    try:
        assert log_in(client, TYPED, "a long staff password").status_code == 422
    finally:
        event.remove(app.state.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if "staff" in s]
