"""No secret ever reaches a log line: a real server with request logging, JSON lines and the log buffer, put through
sign-ups, log-ins (one with the password in the query string), sessions, the master key in headers and in JS SDK
bodies, and failing requests; then its whole log output and `/scriptlog` are searched for every secret used."""
from __future__ import annotations

import json
import signal
import urllib.parse
from pathlib import Path

from tests.api.test_serving import APP_ID, EXIT_WITHIN_SECONDS, MASTER_KEY, ServerProcess, _request

PASSWORD, NEW_PASSWORD = "Tr0ub4dor&3-secret", "correct-horse-battery-staple"


def _call(url: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> dict:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "X-Parse-Application-Id": APP_ID, "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"{}")


def test_no_password_token_or_master_key_in_the_log(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "--log-requests", "--log-format", "json")
    try:
        server.wait_healthy()
        url = server.url
        user = _call(url, "POST", "/users", {"username": "ann", "password": PASSWORD, "email": "ann@example.com"})
        token = user["sessionToken"]
        query = urllib.parse.urlencode({"username": "ann", "password": PASSWORD})
        second = _call(url, "GET", f"/login?{query}")["sessionToken"]
        _call(url, "POST", "/login", {"username": "ann", "password": "wrong " + PASSWORD})
        _call(url, "GET", "/users/me", headers={"X-Parse-Session-Token": token})
        _call(url, "PUT", f"/users/{user['objectId']}", {"password": NEW_PASSWORD},
              headers={"X-Parse-Session-Token": token})
        _call(url, "POST", "/classes/Note", {"_method": "POST", "_ApplicationId": APP_ID, "_MasterKey": MASTER_KEY,
                                             "_SessionToken": second, "text": "sdk style"})
        _call(url, "POST", "/classes/Note", {"broken": {"__op": "Nope"}}, headers={"X-Parse-Master-Key": MASTER_KEY})
        _call(url, "GET", "/nowhere/" + token, headers={"X-Parse-Master-Key": MASTER_KEY})
        _call(url, "POST", "/logout", {}, headers={"X-Parse-Session-Token": token})
        _call(url, "GET", "/users/me", headers={"X-Parse-Session-Token": token})
        status, recent = _request("GET", f"{url}/scriptlog?size=100")
        assert status == 200
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(EXIT_WITHIN_SECONDS)
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    buffered = json.dumps(recent)
    assert '"path":"/login"' in log and "/users/me" in buffered  # the requests were logged
    for text in (log, buffered):
        for secret in (PASSWORD, NEW_PASSWORD, token, second, MASTER_KEY, "$argon2"):
            assert secret not in text, f"{secret!r} is in a log line"
