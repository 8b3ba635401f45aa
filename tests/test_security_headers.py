"""Every response carries the security headers; an oversized body is refused before it is read."""

from fastapi.testclient import TestClient

from app.main import create_app


def test_every_response_carries_the_security_headers(client):
    for response in (client.get("/healthz"), client.get("/no-such-page")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers


def test_hsts_is_sent_over_https(app):
    with TestClient(app, base_url="https://testserver") as secure:
        assert "max-age=" in secure.get("/healthz").headers["strict-transport-security"]


def test_hsts_is_sent_whenever_the_public_address_is_https(app, settings):
    """Behind a TLS proxy that speaks plain http to the service, every answer, a refusal too."""
    public = create_app(settings.model_copy(update={"public_url": "https://letters.example.org"}))
    with TestClient(public, base_url="http://letters.example.org") as behind_proxy:
        for response in (
            behind_proxy.get("/"),
            behind_proxy.get("/no-such-page"),
            behind_proxy.get("/", headers={"Host": "evil.example"}),
        ):
            assert "max-age=" in response.headers["strict-transport-security"]
            assert response.headers["x-content-type-options"] == "nosniff"
    public.state.engine.dispose()


def test_a_body_declared_too_large_is_refused_with_413(client, settings):
    response = client.post(
        "/api/letters",
        content=b"{}",
        headers={"content-length": str(settings.max_body_bytes + 1)},
    )
    assert response.status_code == 413
    assert "request body over" in response.json()["detail"][0]["msg"]


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(client, settings):
    chunk = b"x" * 65536

    def body():
        for _ in range(settings.max_body_bytes // len(chunk) + 50):
            yield chunk

    response = client.post("/api/letters", content=body())
    assert response.status_code == 413
