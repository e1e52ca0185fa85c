"""before_login, after_login and after_logout."""
from __future__ import annotations

from typing import Any

from api.settings import Settings
from livequery.cloud import Cloud, CloudError
from tests.api.cloud_app import serving, sign_up


def login_cloud(seen: list[tuple[str, Any]]) -> Cloud:
    cloud = Cloud()

    @cloud.before_login()
    def no_banned(request: Any) -> None:
        seen.append(("before_login", request.object["username"]))
        if request.object.get("banned"):
            raise CloudError("banned")

    @cloud.after_login()
    async def record(request: Any) -> None:
        seen.append(("after_login", (request.user["username"], bool(request.user.get("sessionToken")))))

    @cloud.after_logout()
    def bye(request: Any) -> None:
        seen.append(("after_logout", request.object["user"]["objectId"]))

    return cloud


async def test_before_login_refuses_and_no_session_is_created(settings: Settings) -> None:
    seen: list[tuple[str, Any]] = []
    async with serving(settings, login_cloud(seen)) as client:
        user = await sign_up(client, "eve")
        await client.request("PUT", f"/users/{user['objectId']}", {"banned": True}, master=True)
        sessions_before = len(await client.find("_Session", master=True))
        refused = await client.request("POST", "/login", {"username": "eve", "password": "pw"})
        assert refused.status_code == 400 and refused.json() == {"code": 141, "error": "banned"}
        assert len(await client.find("_Session", master=True)) == sessions_before
        wrong = await client.request("POST", "/login", {"username": "eve", "password": "nope"})
        assert wrong.json()["code"] == 101  # credentials are checked before the trigger
        assert seen == [("before_login", "eve")]


async def test_after_login_sees_the_user_with_the_new_session_and_after_logout_the_session(
        settings: Settings) -> None:
    seen: list[tuple[str, Any]] = []
    async with serving(settings, login_cloud(seen)) as client:
        user = await sign_up(client, "ann")
        response = await client.request("POST", "/login", {"username": "ann", "password": "pw"})
        assert response.status_code == 200
        assert seen == [("before_login", "ann"), ("after_login", ("ann", True))]
        await client.request("POST", "/logout", {}, session=response.json()["sessionToken"])
        assert seen[-1] == ("after_logout", user["objectId"])
