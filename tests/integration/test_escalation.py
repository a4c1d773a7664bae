"""An organization's owner reaches nothing beyond their organization.

The review's flow: A's owner adds another organization's person (the platform administrator, or
B's owner) to A by email, then mints a key for that member. Identities are per organization, so
the member is a new identity of A; the key acts in A with A's powers only; nothing stored about
the person elsewhere is revealed; platform powers come only with the platform organization.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from raylane.infra.db.urls import app_url, libpq_url
from tests.factories import Api, Tenant


async def _email_of(api: Api, tenant: Tenant) -> str:
    me = await api.as_(tenant).get("/api/v1/me")
    assert me.status_code == 200, me.text
    return str(me.json()["email"])


async def _adopt(api: Api, owner: Tenant, email: str, *, name: str = "") -> tuple[dict, str]:
    """A's owner adds ``email`` as a viewer and mints a key for that member."""
    added = await api.as_(owner).post(
        "/api/v1/users", json={"email": email, "name": name, "role": "viewer"}
    )
    assert added.status_code == 201, added.text
    key = await api.as_(owner).post(
        "/api/v1/api-keys", json={"name": "adopted", "user_id": added.json()["id"]}
    )
    assert key.status_code == 201, key.text
    return added.json(), key.json()["secret"]


async def _reach_of(api: Api, token: str) -> tuple[dict[str, Any], set[str]]:
    me = (await api.as_(token).get("/api/v1/me")).json()
    orgs = (await api.as_(token).get("/api/v1/organizations")).json()["items"]
    return me, {o["id"] for o in orgs}


async def test_adopting_the_platform_admin_gives_no_platform_powers(
    api: Api, org_a: Tenant, platform_admin: Tenant
) -> None:
    email = await _email_of(api, platform_admin)
    member, token = await _adopt(api, org_a, email)

    assert member["id"] != platform_admin.owner_id  # a new identity of A, not the admin's
    assert member["name"] == ""  # nothing stored elsewhere comes back
    me, orgs = await _reach_of(api, token)
    assert me["organization"]["id"] == org_a.organization_id
    assert "org:create" not in me["permissions"] and me["is_platform_admin"] is False
    assert orgs == {org_a.organization_id}
    platform_org = f"/api/v1/organizations/{platform_admin.organization_id}"
    assert (await api.as_(token).get(platform_org)).status_code == 404
    body = {"name": "X", "slug": "stolen-org", "owner_email": "x@stolen.example.com"}
    assert (await api.as_(token).post("/api/v1/organizations", json=body)).status_code == 403
    # The real administrator is untouched and still has their powers.
    admin_me, _ = await _reach_of(api, platform_admin.token)
    assert admin_me["is_platform_admin"]
    a = f"/api/v1/organizations/{org_a.organization_id}"
    assert (await api.as_(platform_admin).get(a)).status_code == 200


async def test_adopting_another_organizations_owner_reaches_nothing_of_theirs(
    api: Api, org_a: Tenant, org_b: Tenant
) -> None:
    project = await api.as_(org_b).post("/api/v1/projects", json={"name": "secret-plans"})
    assert project.status_code == 201
    b_members_before = (await api.as_(org_b).get("/api/v1/users")).json()["items"]

    member, token = await _adopt(api, org_a, await _email_of(api, org_b), name="Chosen by A")

    assert member["id"] != org_b.owner_id and member["name"] == "Chosen by A"
    me, orgs = await _reach_of(api, token)
    assert me["organization"]["id"] == org_a.organization_id and me["role"] == "viewer"
    assert orgs == {org_a.organization_id}
    assert (await api.as_(token).get(f"/api/v1/projects/{project.json()['id']}")).status_code == 404
    listed = (await api.as_(token).get("/api/v1/projects")).json()["items"]
    assert project.json()["id"] not in {p["id"] for p in listed}
    # B sees no new member, and B's owner keeps B's name and role.
    b_members_after = (await api.as_(org_b).get("/api/v1/users")).json()["items"]
    assert b_members_after == b_members_before
    b_me = (await api.as_(org_b).get("/api/v1/me")).json()
    assert b_me["role"] == "owner" and b_me["name"] != "Chosen by A"


async def test_no_key_can_be_minted_for_a_person_of_another_organization(
    api: Api, org_a: Tenant, org_b: Tenant, platform_admin: Tenant
) -> None:
    for user_id in (org_b.owner_id, platform_admin.owner_id):
        r = await api.as_(org_a).post(
            "/api/v1/api-keys", json={"name": "theirs", "user_id": user_id}
        )
        assert r.status_code == 404, r.text
        assert (await api.as_(org_a).get(f"/api/v1/users/{user_id}")).status_code == 404
        r = await api.as_(org_a).patch(f"/api/v1/users/{user_id}", json={"name": "renamed"})
        assert r.status_code == 404


async def test_adding_a_member_reveals_nothing_about_the_email_elsewhere(
    api: Api, org_a: Tenant, org_b: Tenant
) -> None:
    existing = await _email_of(api, org_b)
    fresh = f"nobody-{org_a.slug}@nowhere.example.com"
    answers = []
    for email in (existing, fresh):
        r = await api.as_(org_a).post(
            "/api/v1/users", json={"email": email, "name": "Same", "role": "viewer"}
        )
        assert r.status_code == 201, r.text
        answers.append(
            {k: v for k, v in r.json().items() if k not in {"id", "email", "created_at"}}
        )
    assert answers[0] == answers[1]


async def test_platform_powers_belong_to_the_platform_organizations_admins_only(
    api: Api, platform_admin: Tenant, org_a: Tenant
) -> None:
    viewer = await api.member(platform_admin, role="viewer")
    me, orgs = await _reach_of(api, viewer.token)
    assert "org:create" not in me["permissions"] and orgs == {platform_admin.organization_id}
    admin = await api.member(platform_admin, role="admin")
    me, _ = await _reach_of(api, admin.token)
    assert "org:create" in me["permissions"]
    a = f"/api/v1/organizations/{org_a.organization_id}"
    assert (await api.as_(admin).get(a)).status_code == 200
    assert (await api.as_(viewer).get(a)).status_code == 404
    # An owner of any other organization has none.
    me, orgs = await _reach_of(api, org_a.token)
    assert "org:create" not in me["permissions"] and orgs == {org_a.organization_id}


async def test_the_application_role_cannot_make_a_platform_organization(
    services: Any, org_a: Tenant
) -> None:
    with psycopg.connect(libpq_url(app_url(services))) as conn:
        conn.execute("SELECT set_config('raylane.org_id', %s, true)", (org_a.organization_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "UPDATE organizations SET is_platform = true WHERE id = %s",
                (org_a.organization_id,),
            )
        conn.rollback()
        conn.execute("SELECT set_config('raylane.platform', 'on', true)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO organizations (id, name, slug, region, is_platform) "
                "VALUES (gen_random_uuid(), 'x', 'x-platform-2', 'local', true)"
            )
