"""Headless Chromium for the example apps' page tests, driven over the DevTools protocol (CDP) on a websocket.

Debian's `chromium` (installed by scripts/test), never a downloaded browser. `Browser` starts one process with a
fresh profile; `Browser.context()` opens an isolated browser context (its own cookies and localStorage, like a
separate person) with one page. Pages are driven the way a person does: real mouse clicks and typed text, and
every wait is bounded.

    async with Browser.launch() as browser:
        page = await browser.context()
        await page.goto(url)
        await page.fill("#username", "ann")
        await page.click("#login-button")
        await page.wait_for("document.body.dataset.ready === 'ann'")
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator

from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import stop_process

CHROMIUM_MISSING = ("chromium is not installed: the page tests drive Debian's headless chromium. Run "
                    "`bash scripts/test`, which installs it, or `apt-get install chromium`.")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--no-default-browser-check",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(Exception):
    pass


class Browser:
    """One headless chromium process and its DevTools connection. Use `Browser.launch()`."""

    def __init__(self, process: subprocess.Popen[bytes], socket: ClientConnection, profile: Path) -> None:
        self._process = process
        self._socket = socket
        self._profile = profile
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, executable: str | None = None, window: tuple[int, int] = (1200, 800),
                     start_seconds: float = 30.0) -> AsyncIterator[Browser]:
        executable = executable or chromium_path()
        if executable is None:
            raise BrowserError(CHROMIUM_MISSING)
        with tempfile.TemporaryDirectory(prefix="lq-chromium-", ignore_cleanup_errors=True) as folder:
            profile = Path(folder)
            command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                       f"--window-size={window[0]},{window[1]}", "about:blank"]
            log = open(profile / "chromium.log", "wb")  # noqa: SIM115 - closed below, after the process
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            try:
                url = await _devtools_url(process, profile, start_seconds)
                socket = await connect(url, max_size=64 * 1024 * 1024, open_timeout=10)
                browser = cls(process, socket, profile)
                browser._reader = asyncio.create_task(browser._read(), name="chromium-devtools")
                try:
                    yield browser
                finally:
                    await browser._close()
            finally:
                stop_process(process)
                log.close()

    async def context(self) -> Page:
        """A new isolated browser context (a person of their own) with one blank page."""
        context = await self.send("Target.createBrowserContext", {"disposeOnDetach": True})
        target = await self.send("Target.createTarget", {"url": "about:blank",
                                                         "browserContextId": context["browserContextId"]})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        self._pages[page.session_id] = page
        for domain in ("Page.enable", "Runtime.enable"):
            await page.send(domain)
        return page

    async def send(self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None,
                   timeout: float = 30.0) -> dict[str, Any]:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = answer
        await self._socket.send(json.dumps(message))
        try:
            reply = await asyncio.wait_for(answer, timeout)
        finally:
            self._pending.pop(message_id, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    async def _read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            waiting = self._pending.get(message.get("id", -1))
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
            elif "method" in message and message.get("sessionId") in self._pages:
                self._pages[message["sessionId"]].on_event(message["method"], message.get("params", {}))

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close", timeout=5), 5)
        await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class Page:
    """One tab of a browser context. `log` keeps what the page printed to its console and its errors."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id
        self.log: list[str] = []

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.log.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.log.append(f"uncaught: {details.get('exception', {}).get('description') or details.get('text')}")

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session_id)

    async def goto(self, url: str, timeout: float = 30.0) -> None:
        navigated = await self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigated['errorText']}")
        await self.wait_for("document.readyState === 'complete'", timeout)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                      "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: "
                               f"{details.get('exception', {}).get('description') or details.get('text')}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll until the expression is truthy; its value. On timeout, the error shows the page's console."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        log = "\n".join(self.log[-20:]) or "(nothing)"
        raise BrowserError(f"waited {timeout:.0f}s for {expression!r} (last value {value!r}); page console:\n{log}")

    async def text(self, selector: str) -> str:
        return str(await self.wait_for(f"document.querySelector({json.dumps(selector)})?.textContent"))

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a person makes it (it must be visible)."""
        box = await self.wait_for(f"""(() => {{
            const element = document.querySelector({json.dumps(selector)});
            if (!element || element.offsetParent === null) return null;
            element.scrollIntoView({{block: "center"}});
            const r = element.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                         "button": "left", "clickCount": 1})

    async def fill(self, selector: str, text: str) -> None:
        """Focus the field, clear it and type `text` into it."""
        await self.wait_for(f"""(() => {{
            const element = document.querySelector({json.dumps(selector)});
            if (!element) return false;
            element.focus(); element.value = ""; return true;
        }})()""")
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def _devtools_url(process: subprocess.Popen[bytes], profile: Path, timeout: float) -> str:
    """Chromium writes the port it chose (and the browser's websocket path) to DevToolsActivePort."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (profile / "chromium.log").read_text(errors="replace")[-3000:]
            raise BrowserError(f"chromium exited with {process.returncode}:\n{log}")
        lines = marker.read_text().split() if marker.exists() else []
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout:.0f}s")

