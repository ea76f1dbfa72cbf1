"""The page can change a device, so every way in is tried as an attacker would: no token, a
guessed token, a rebound host name, another origin's form post, a missing CSRF token."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.app_testing import PORT, changing

PREVIEW = {"name": "mine", "toml": 'title = "x"\n'}


def test_the_token_from_the_address_becomes_a_cookie_for_this_port_and_leaves_the_address(stranger, keys):
    opened = stranger.get(f"/routines?token={keys.token}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/routines"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"facepace-{PORT}={keys.token};")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert stranger.get("/routines").status_code == 200


def test_no_token_is_refused_everywhere_static_files_too(stranger):
    for path in ("/", "/history", "/routines/edit?name=daily", "/device", "/api/job", "/export.csv",
                 "/static/app.js"):
        assert stranger.get(path).status_code == 403, path


@pytest.mark.parametrize("guess", ["", "0", "x" * 43, "facepace", "%00"])
def test_a_guessed_token_is_refused(stranger, keys, guess):
    assert stranger.get(f"/history?token={guess}", follow_redirects=False).status_code == 403
    stranger.cookies.set(keys.cookie, guess)
    assert stranger.get("/history").status_code == 403


def test_another_ports_cookie_does_not_open_this_page(stranger, keys):
    stranger.cookies.set(f"facepace-{PORT + 1}", keys.token)
    assert stranger.get("/history").status_code == 403


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1", f"127.0.0.1:{PORT + 1}",
                                  f"localhost.evil.example:{PORT}", f"127.0.0.2:{PORT}", ""])
def test_a_rebound_host_name_is_refused_even_with_the_token(client, host):
    """DNS rebinding: the attacker's name resolves to 127.0.0.1, so the browser sends its cookie-less
    request with the attacker's Host; with the right Host the same request passes."""
    assert client.get("/history", headers={"Host": host}).status_code == 403
    assert client.get("/history", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_another_origins_form_post_is_refused(client, keys):
    """A page elsewhere posts a form to us; the browser even sends the cookie (a lax one would)."""
    form = client.post("/api/settings", data={"values": "haptics=false"},
                       headers={"Origin": "http://evil.example"})
    assert form.status_code == 403
    same_origin_without_csrf = client.post("/api/routines/preview", json=PREVIEW,
                                           headers={"Origin": f"http://127.0.0.1:{PORT}"})
    assert same_origin_without_csrf.status_code == 403
    no_origin = client.post("/api/routines/preview", json=PREVIEW, headers={"X-CSRF-Token": keys.csrf})
    assert no_origin.status_code == 403
    wrong_csrf = client.post("/api/routines/preview", json=PREVIEW,
                             headers={**changing(keys), "X-CSRF-Token": keys.token})
    assert wrong_csrf.status_code == 403
    assert client.post("/api/routines/preview", json=PREVIEW, headers=changing(keys)).status_code == 200


def test_no_cors_headers_even_when_asked(client, keys):
    for response in (client.options("/api/settings", headers={"Origin": "http://evil.example",
                                                              "Access-Control-Request-Method": "POST"}),
                     client.get("/history", headers={"Origin": "http://evil.example"}),
                     client.post("/api/routines/preview", json=PREVIEW, headers=changing(keys))):
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_the_secrets_differ_at_each_launch():
    from companion.app.guard import Secrets

    first, second = Secrets(port=PORT), Secrets(port=PORT)
    assert first.token != second.token and first.csrf != second.csrf and first.token != first.csrf
    assert len(first.token) >= 40


def test_pages_run_only_their_own_scripts_and_cannot_be_framed(client):
    policy = client.get("/history").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy


def test_everything_the_page_loads_ships_in_the_package():
    """No CDN, no web font: the computer may be offline."""
    import re
    from pathlib import Path

    import companion.app

    folder = Path(companion.app.__file__).parent
    for path in [*folder.glob("templates/*.html"), *folder.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)|@import|url\(", text), path
        for link in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert link.startswith("/") and not link.startswith("//"), (path, link)


@settings(derandomize=True, deadline=None, max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
       path=st.sampled_from(["/", "/history", "/api/job", "/api/settings", "/api/routines/send", "/static/app.js",
                             "/device", "/export.json", "/nope"]),
       host=st.sampled_from([f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}", "evil.example", "127.0.0.1"]),
       token=st.sampled_from(["right", "", "wrong"]) | st.text(st.characters(min_codepoint=0x21, max_codepoint=0xff,
                                                                             exclude_characters=';,"\\'), max_size=50),
       origin=st.sampled_from([None, "http://evil.example", "null", f"http://127.0.0.1:{PORT}"]),
       csrf=st.sampled_from([None, "right", "wrong"]))
def test_without_the_token_and_a_loopback_host_nothing_but_403(stranger, keys, method, path, host, token, origin,
                                                              csrf):
    cookie = keys.token if token == "right" else token
    headers = {"Host": host, "Cookie": f"{keys.cookie}={cookie}".encode("latin-1")}   # any byte a client may send
    if origin:
        headers["Origin"] = origin
    if csrf:
        headers["X-CSRF-Token"] = keys.csrf if csrf == "right" else "wrong"
    answer = stranger.request(method, path, headers=headers, content=b"{}")
    may_read = token == "right" and host in keys.hosts
    may_change = may_read and origin == f"http://{host}" and csrf == "right"
    if not may_read or (method not in ("GET", "HEAD") and not may_change):
        assert answer.status_code == 403
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
