"""Invitations by email: the token arrives by SMTP, works once, expires, and never
logs anyone in to an existing account."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import httpx

from tests.integration.conftest import User, signup
from tests.integration.identity_helpers import with_role
from tests.integration.smtp_server import SmtpServer


async def _invite(client: httpx.AsyncClient, by: User, email: str, role: str = "member") -> Any:
    r = await client.post(
        "/api/v1/invitations", json={"email": email, "role": role}, headers=by.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _token_from_email(smtp: SmtpServer, email: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = smtp.inbox.to(email)
        if messages:
            body = messages[-1].get_body(preferencelist=("plain",))
            assert body is not None, messages[-1]
            text = body.get_content()
            found = re.search(r"token=(\S+)", text)
            assert found, text
            return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no invitation email to {email}")


async def test_a_new_person_accepts_and_joins_with_the_invited_role(
    client: httpx.AsyncClient, alice: User, smtp_server: SmtpServer, db: Any
) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    invitation = await _invite(client, alice, email, role="guest")
    assert invitation["email_sent"] is True and invitation["role"] == "guest"
    token = await _token_from_email(smtp_server, email)
    stored = await db.fetchval(
        "SELECT token_hash FROM invitations WHERE id = $1", uuid.UUID(invitation["id"])
    )
    assert token not in stored  # only the hash is kept
    pending = (await client.get("/api/v1/invitations", headers=alice.headers)).json()["items"]
    assert [i["id"] for i in pending] == [invitation["id"]]

    body = {"token": token, "name": "Nia", "password": "a long password"}
    r = await client.post("/api/v1/invitations/accept", json=body)
    assert r.status_code == 200, r.text
    joined = r.json()
    assert joined["org_id"] == alice.org_id
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {joined['access_token']}"}
    )
    assert (me.json()["email"], me.json()["role"]) == (email, "guest")
    # Used once.
    assert (await client.post("/api/v1/invitations/accept", json=body)).status_code == 409
    assert (await client.get("/api/v1/invitations", headers=alice.headers)).json()["items"] == []
    actions = await db.fetch(
        "SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id", invitation["id"]
    )
    assert [a["action"] for a in actions] == ["invitation.created", "invitation.accepted"]
    # The new account logs in with its password.
    r = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "a long password"}
    )
    assert r.status_code == 200


async def test_an_existing_account_must_be_logged_in_to_accept(
    client: httpx.AsyncClient, alice: User, smtp_server: SmtpServer
) -> None:
    bob = await signup(client, org_name="Bob's")
    await _invite(client, alice, bob.email.upper())  # emails compare case-insensitively
    token = await _token_from_email(smtp_server, bob.email.upper())
    r = await client.post("/api/v1/invitations/accept", json={"token": token})
    assert r.status_code == 401
    stranger = await signup(client)
    r = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=stranger.headers
    )
    assert r.status_code == 401
    r = await client.post("/api/v1/invitations/accept", json={"token": token}, headers=bob.headers)
    assert r.status_code == 200, r.text
    orgs = (await client.get("/api/v1/users/me/orgs", headers=bob.headers)).json()["items"]
    assert {o["id"] for o in orgs} == {bob.org_id, alice.org_id}


async def test_expired_revoked_and_unknown_tokens(
    client: httpx.AsyncClient, alice: User, smtp_server: SmtpServer, db: Any
) -> None:
    new = {"name": "N", "password": "a long password"}
    email = f"late-{uuid.uuid4().hex[:8]}@example.com"
    invitation = await _invite(client, alice, email)
    token = await _token_from_email(smtp_server, email)
    await db.execute(
        "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(invitation["id"]),
    )
    r = await client.post("/api/v1/invitations/accept", json={"token": token, **new})
    assert r.status_code == 409 and "expired" in r.json()["detail"]

    email = f"revoked-{uuid.uuid4().hex[:8]}@example.com"
    invitation = await _invite(client, alice, email)
    token = await _token_from_email(smtp_server, email)
    r = await client.delete(f"/api/v1/invitations/{invitation['id']}", headers=alice.headers)
    assert r.status_code == 204
    r = await client.post("/api/v1/invitations/accept", json={"token": token, **new})
    assert r.status_code == 404
    r = await client.post("/api/v1/invitations/accept", json={"token": "thi_nope", **new})
    assert r.status_code == 404


async def test_who_may_invite_whom(client: httpx.AsyncClient, alice: User, db: Any) -> None:
    admin = await with_role(client, db, alice, "admin")
    member = await with_role(client, db, alice, "member")
    email = f"x-{uuid.uuid4().hex[:8]}@example.com"
    r = await client.post("/api/v1/invitations", json={"email": email}, headers=member.headers)
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/invitations", json={"email": email, "role": "owner"}, headers=alice.headers
    )
    assert r.status_code == 422  # owners are made, not invited
    r = await client.post(
        "/api/v1/invitations", json={"email": member.email}, headers=admin.headers
    )
    assert r.status_code == 409  # already a member
    r = await client.post(
        "/api/v1/invitations", json={"email": "not an email"}, headers=admin.headers
    )
    assert r.status_code == 422
