async def test_me(api, org_a):
    r = await api.as_(org_a).get("/api/v1/me")
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "owner"
