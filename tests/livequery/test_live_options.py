"""Server options reaching LiveQuery, through the real command line: `--live-classes` and the socket pings."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import urllib.request
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.server import APP_ID, MASTER_KEY, running_server


def _create(url: str, class_name: str, body: dict[str, Any]) -> str:
    request = urllib.request.Request(f"{url}/classes/{class_name}", data=json.dumps(body).encode(), method="POST",
                                     headers={"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["objectId"])


async def _only_live_classes_publish(url: str) -> None:
    async with connect(url.replace("http://", "ws://"), open_timeout=5) as ws:
        await ws.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "connected"
        for request_id, class_name in ((1, "Chat"), (2, "Other")):
            await ws.send(json.dumps({"op": "subscribe", "requestId": request_id,
                                      "query": {"className": class_name, "where": {}}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "subscribed"
        await asyncio.to_thread(_create, url, "Other", {"n": 1})
        chat = await asyncio.to_thread(_create, url, "Chat", {"n": 2})  # the fence: Chat publishes
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (event["op"], event["requestId"], event["object"]["objectId"]) == ("create", 1, chat)


def test_live_classes_limits_which_classes_publish_events() -> None:
    with running_server("--live-classes", "Chat,Room") as url:
        asyncio.run(asyncio.wait_for(_only_live_classes_publish(url), 30))


def _read_frame_opcode(sock: socket.socket) -> int:
    header = sock.recv(2)
    assert len(header) == 2, "the server closed the socket"
    length = header[1] & 0x7F
    extra = {126: 2, 127: 8}.get(length, 0)
    if extra:
        length = int.from_bytes(sock.recv(extra), "big")
    while length > 0:
        length -= len(sock.recv(length))
    return header[0] & 0x0F


def test_idle_live_query_sockets_are_pinged() -> None:
    """A raw websocket that never sends anything still receives pings (opcode 9) at the configured interval."""
    with running_server("--websocket-ping-seconds", "0.2") as url:
        host_port = url.split("//")[1].split("/")[0]
        host, port = host_port.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET /parse HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                         .encode())
            response = b""
            while b"\r\n\r\n" not in response:
                response += sock.recv(1)
            assert response.startswith(b"HTTP/1.1 101")
            assert _read_frame_opcode(sock) == 0x9  # a ping, within the socket timeout


async def _answers_keep_alive_pings_and_stays(url: str) -> None:
    # ping_interval=None: the client sends no pings of its own; it answers the server's, as browsers do
    async with connect(url.replace("http://", "ws://"), open_timeout=5, ping_interval=None) as ws:
        await ws.send(json.dumps({"op": "connect", "applicationId": APP_ID, "installationId": "keeps-answering"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "connected"
        await ws.send(json.dumps({"op": "subscribe", "requestId": 1, "query": {"className": "Chat", "where": {}}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "subscribed"
        await asyncio.sleep(2.0)  # ten keep-alive pings, each to be answered within 0.2 s or the socket closes
        chat = await asyncio.to_thread(_create, url, "Chat", {"n": 1})
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (event["op"], event["object"]["objectId"]) == ("create", chat)


def test_a_client_answering_keep_alive_pings_stays_connected() -> None:
    """The pongs of the server's keep-alive pings still reach uvicorn, which closes a socket whose pong is late,
    though the endpoint takes the pongs first (those answering a resume acknowledgement are its own)."""
    with running_server("--websocket-ping-seconds", "0.2") as url:
        asyncio.run(asyncio.wait_for(_answers_keep_alive_pings_and_stays(url), 30))
