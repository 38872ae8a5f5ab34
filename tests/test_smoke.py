def test_login_page_renders_with_a_csrf_field(client):
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert b'name="password"' in response.data


def test_login_and_logout(client, factory, login_as):
    user = factory.user("citizen")
    login_as(user)
    response = client.post("/auth/logout")
    assert response.status_code == 302
    assert client.get("/auth/me").status_code == 302
