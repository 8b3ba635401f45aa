"""Officials are offices whose holders change: staff pause one with a reason, and every server
refuses letters to them at once; "all" leaves them out; the form does not offer them."""

import httpx

from tests.html_pages import Page
from tests.reading import pdf_text
from tests.staff_pages import STEERING, csrf_token, log_in, steering_token
from tests.test_campaign_state import typed  # noqa: F401 (the form's fixture)
from tests.test_supporter_form import create, post
from tests.test_supporter_form import stats as public_counts

REASON = "Left office in 2019; the new holder is being checked."


def pause(client, official: str, reason: str = REASON):
    data = {"reason": reason, "csrf_token": steering_token(client)}
    return client.post(f"/dashboard/officials/{official}/pause", data=data, follow_redirects=False)


def resume(client, official: str):
    data = {"csrf_token": steering_token(client)}
    return client.post(f"/dashboard/officials/{official}/resume", data=data, follow_redirects=False)


def test_a_paused_official_is_shown_as_such_and_not_offered_in_the_form(staff_client, campaign):
    assert pause(staff_client, "ombudsman").status_code == 303
    page = Page(staff_client.get("/?lang=en").text)
    listed = page.all(".officials li.paused")
    assert len(listed) == 1
    assert f"Letters to this official are paused for now: {REASON}" in page.text(".officials")
    offered = [v for k, v in page.form_values("form.supporter-form") if k == "recipients"]
    assert offered == [r.id for r in campaign.recipients if r.id != "ombudsman"]
    assert not page.all("#recipients-ombudsman")
    api = {o["id"]: o for o in staff_client.get("/api/recipients").json()}
    assert api["ombudsman"]["paused"] is True and api["ombudsman"]["paused_reason"] == REASON
    assert api["la-155-1"]["paused"] is False


def test_naming_a_paused_official_is_refused_and_all_leaves_them_out(
    staff_client,
    supporter_data,
    typed,  # noqa: F811
):
    pause(staff_client, "ombudsman")
    refused = staff_client.post(
        "/api/letters", json={**supporter_data, "recipients": ["la-155-1", "ombudsman"]}
    )
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "recipients"]
    assert "ombudsman" in problem["msg"] and REASON in problem["msg"]
    assert public_counts(staff_client)["generated"] == 0

    made = staff_client.post("/api/letters", json={**supporter_data, "recipients": []})
    assert made.status_code == 200
    counts = {r["id"]: r["generated"] for r in public_counts(staff_client)["recipients"]}
    assert counts.pop("ombudsman") == 0
    assert set(counts.values()) == {1}

    form = post(staff_client, "/preview", typed)
    assert form.status_code == 422
    assert "paused for now" in Page(form.text).text("#recipients-error")

    assert resume(staff_client, "ombudsman").status_code == 303
    again = staff_client.post("/api/letters", json={**supporter_data, "recipients": ["ombudsman"]})
    assert again.status_code == 200


def test_a_thank_you_page_left_open_makes_no_letters_to_an_official_paused_since(
    staff_client,
    campaign,
    typed,  # noqa: F811
):
    """The office changed hands or the address is wrong: a download from a page opened before
    the pause leaves that official's letter out, and asking for it alone says why."""
    download = create(staff_client, typed).form_values("#download")
    names = {
        r: campaign.recipient(r).address_as["ru"].address_lines[0] for r in typed["recipients"]
    }
    assert pause(staff_client, "ombudsman").status_code == 303

    letters = post(staff_client, "/letters/pdf", [*download, ("recipient", "")])
    assert letters.status_code == 200
    text = pdf_text(letters.content)
    assert names["la-155-1"] in text and names["ombudsman"] not in text

    alone = post(staff_client, "/letters/pdf", [*download, ("recipient", "ombudsman")])
    assert alone.status_code == 422
    page = Page(alone.text)
    assert page.text("h1") == "Paused for now"
    assert f"Letters to this official are paused for now: {REASON}" in page.text("main")
    assert alone.headers["cache-control"] == "no-store"

    assert resume(staff_client, "ombudsman").status_code == 303
    again = post(staff_client, "/letters/pdf", [*download, ("recipient", "")])
    assert all(name in pdf_text(again.content) for name in names.values())


def test_a_pause_needs_a_reason_and_a_known_official(staff_client):
    missing = pause(staff_client, "ombudsman", reason="  ")
    assert missing.status_code == 422
    assert "say why the official is paused" in Page(missing.text).text(".error")
    unknown = pause(staff_client, "nobody")
    assert unknown.status_code == 422
    assert "no official 'nobody' in this campaign" in Page(unknown.text).text(".error")
    forged = staff_client.post(
        "/dashboard/officials/ombudsman/pause", data={"reason": "x", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert staff_client.get("/api/recipients").json()[0]["paused"] is False


def test_a_pause_on_one_server_is_refused_at_once_by_another(
    two_servers, staff_account, supporter_data
):
    first, second = two_servers
    body = {**supporter_data, "recipients": ["ombudsman"], "language": "en"}
    with httpx.Client(base_url=first, timeout=60) as staff:
        assert log_in(staff, *staff_account).status_code == 303
        token = csrf_token(staff.get(STEERING).text)
        paused = staff.post("/dashboard/officials/ombudsman/pause",
                            data={"reason": REASON, "csrf_token": token})  # fmt: skip
        assert paused.status_code == 303
    refused = httpx.post(f"{second}/api/letters", json=body, timeout=60)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "recipients"]
    assert REASON in refused.json()["detail"][0]["msg"]
    page = Page(httpx.get(f"{second}/?lang=en", timeout=60).text)
    assert not page.all("#recipients-ombudsman")
