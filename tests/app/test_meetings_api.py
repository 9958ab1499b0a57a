"""The meetings REST API against a real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import httpx

from tests.app.conftest import Account, create_meeting, join


def test_create_get_and_list(http: httpx.Client, host: Account) -> None:
    created = create_meeting(http, host, max_participants=5, recording_enabled=True)
    assert created["status"] == "scheduled"
    assert created["host_user_id"] == host.id
    assert created["required_consent"] == ["recording"]
    assert created["has_password"] is False

    got = http.get(f"/v1/meetings/{created['id']}", headers=host.headers).json()
    assert got["id"] == created["id"] and got["max_participants"] == 5

    page = http.get("/v1/meetings", headers=host.headers).json()
    assert [m["id"] for m in page["items"]] == [created["id"]]
    assert page["total"] == 1


def test_list_filters_and_paginates(http: httpx.Client, host: Account,
                                    make_account) -> None:
    ids = [create_meeting(http, host, title=f"m{i}")["id"] for i in range(5)]
    other = make_account("Olga")
    create_meeting(http, other, title="not mine")

    first = http.get("/v1/meetings", params={"limit": 2}, headers=host.headers).json()
    second = http.get("/v1/meetings", params={"limit": 2, "offset": 2},
                      headers=host.headers).json()
    assert first["total"] == 5 and len(first["items"]) == 2 and len(second["items"]) == 2
    seen = {m["id"] for m in first["items"] + second["items"]}
    assert len(seen) == 4 and seen <= set(ids)

    http.post(f"/v1/meetings/{ids[0]}/end", headers=host.headers).raise_for_status()
    ended = http.get("/v1/meetings", params={"status": "ended"}, headers=host.headers).json()
    assert [m["id"] for m in ended["items"]] == [ids[0]]
    by_host = http.get("/v1/meetings", params={"host_id": other.id},
                       headers=host.headers).json()
    assert by_host["total"] == 0


def test_others_cannot_see_a_meeting(http: httpx.Client, host: Account, make_account) -> None:
    meeting = create_meeting(http, host)
    stranger = make_account("Stan")
    response = http.get(f"/v1/meetings/{meeting['id']}", headers=stranger.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert http.get("/v1/meetings", headers=stranger.headers).json()["total"] == 0
    # ... until they take part
    join(http, meeting["id"], stranger).raise_for_status()
    assert http.get(f"/v1/meetings/{meeting['id']}", headers=stranger.headers).status_code == 200


def test_only_host_or_co_host_changes_and_ends(http: httpx.Client, host: Account,
                                               make_account) -> None:
    co_host, member = make_account("Cora"), make_account("Max")
    meeting = create_meeting(http, host, co_host_user_ids=[co_host.id])
    join(http, meeting["id"], member).raise_for_status()
    url = f"/v1/meetings/{meeting['id']}"

    denied = http.patch(url, json={"title": "mine now"}, headers=member.headers)
    assert denied.status_code == 403
    assert denied.json()["type"] == "urn:verbatim:problem:forbidden"
    assert http.post(f"{url}/end", headers=member.headers).status_code == 403
    assert http.delete(url, headers=member.headers).status_code == 403

    changed = http.patch(url, json={"title": "Renamed", "max_participants": 3},
                         headers=co_host.headers)
    assert changed.status_code == 200 and changed.json()["title"] == "Renamed"
    ended = http.put(f"{url}/end", headers=co_host.headers)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    again = http.post(f"{url}/end", headers=host.headers)
    assert again.status_code == 409
    assert again.json()["type"] == "urn:verbatim:problem:meeting-ended"


def test_delete_removes_the_meeting(http: httpx.Client, host: Account) -> None:
    meeting = create_meeting(http, host)
    assert http.delete(f"/v1/meetings/{meeting['id']}", headers=host.headers).status_code == 204
    assert http.get(f"/v1/meetings/{meeting['id']}", headers=host.headers).status_code == 404


def test_join_password_capacity_and_ended(http: httpx.Client, host: Account) -> None:
    meeting = create_meeting(http, host, password="s3cret", max_participants=2)
    mid = meeting["id"]
    assert meeting["has_password"] is True

    wrong = join(http, mid, password="nope")
    assert wrong.status_code == 403
    assert wrong.json()["type"] == "urn:verbatim:problem:wrong-password"
    assert join(http, mid).status_code == 403

    first = join(http, mid, password="s3cret", display_name="One")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["participant"]["role"] == "participant"
    assert body["ice_servers"] == []
    assert body["signal_url"].endswith("/v1/signal")
    assert join(http, mid, password="s3cret", display_name="Two").status_code == 200
    full = join(http, mid, password="s3cret", display_name="Three")
    assert full.status_code == 409
    assert full.json()["type"] == "urn:verbatim:problem:meeting-full"

    # the host needs no password; leaving frees a seat
    token = body["token"]
    left = http.post(f"/v1/meetings/{mid}/leave", headers={"Authorization": f"Bearer {token}"})
    assert left.status_code == 204
    hosted = join(http, mid, host)
    assert hosted.status_code == 200 and hosted.json()["participant"]["role"] == "host"

    http.post(f"/v1/meetings/{mid}/end", headers=host.headers).raise_for_status()
    late = join(http, mid, password="s3cret")
    assert late.status_code == 409
    assert late.json()["type"] == "urn:verbatim:problem:meeting-ended"


def test_join_requires_the_consent_the_meeting_asks(http: httpx.Client, host: Account) -> None:
    meeting = create_meeting(http, host, recording_enabled=True, transcription_enabled=True)
    missing = join(http, meeting["id"], consent={"recording": True})
    assert missing.status_code == 422
    problem = missing.json()
    assert problem["type"] == "urn:verbatim:problem:consent-required"
    assert problem["missing"] == ["transcription"]

    # declining is an answer: the participant joins and is not recorded
    ok = join(http, meeting["id"], consent={"recording": False, "transcription": True})
    assert ok.status_code == 200, ok.text
    consent = http.get(f"/v1/meetings/{meeting['id']}/consent", headers=host.headers).json()
    assert {(c["consent_type"], c["accepted"]) for c in consent} == {
        ("recording", False), ("transcription", True)}


def test_consent_is_append_only_and_audited(http: httpx.Client, host: Account) -> None:
    meeting = create_meeting(http, host, ai_summary_enabled=True)
    joined = join(http, meeting["id"], consent={"ai": True}).json()
    auth = {"Authorization": f"Bearer {joined['token']}"}
    withdrawn = http.post(f"/v1/meetings/{meeting['id']}/consent", json={"ai": False},
                          headers=auth)
    assert withdrawn.status_code == 201
    records = http.get(f"/v1/meetings/{meeting['id']}/consent", headers=host.headers).json()
    assert [(r["consent_type"], r["accepted"]) for r in records] == [("ai", True), ("ai", False)]

    http.post(f"/v1/meetings/{meeting['id']}/leave", headers=auth).raise_for_status()
    audit = http.get(f"/v1/meetings/{meeting['id']}/audit", headers=host.headers).json()
    actions = [event["action"] for event in audit]
    assert actions == ["meeting.created", "participant.joined", "consent.recorded",
                       "participant.left"]


def test_guests_can_be_refused(http: httpx.Client, host: Account, make_account) -> None:
    meeting = create_meeting(http, host, allow_guests=False)
    assert join(http, meeting["id"]).status_code == 403
    assert join(http, meeting["id"], make_account("Member")).status_code == 200


def test_lobby_shows_what_the_page_needs(http: httpx.Client, host: Account) -> None:
    meeting = create_meeting(http, host, password="s3cret", transcription_enabled=True)
    lobby = http.get(f"/v1/meetings/{meeting['id']}/lobby").json()
    assert lobby == {"id": meeting["id"], "title": "Weekly sync", "status": "scheduled",
                     "has_password": True, "allow_guests": True,
                     "required_consent": ["transcription"]}


def test_profiles_within_a_tenant(http: httpx.Client, host: Account, make_account) -> None:
    colleague = make_account("Col", tenant_of=host)
    outsider = make_account("Out")
    me = http.get("/v1/users/me", headers=host.headers).json()
    assert me["id"] == host.id and me["email"] == host.email
    assert http.get(f"/v1/users/{colleague.id}/profile",
                    headers=host.headers).json()["display_name"] == "Col"
    assert http.get(f"/v1/users/{outsider.id}/profile", headers=host.headers).status_code == 404
