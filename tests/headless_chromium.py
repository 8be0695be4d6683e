"""A page in a real headless Chromium, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
no port, no extra Python package): load a file or a URL, wait until the page says it is ready (for an app that
draws after loading, such as TensorBoard), list its images with their natural sizes, collect console errors
and uncaught exceptions, read its text, and take a full-page screenshot."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--remote-debugging-pipe",
         "--window-size=1280,900")
IMAGES = "JSON.stringify(Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]))"


def find_chromium() -> str | None:
    return next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path),
                None)


@dataclass(frozen=True)
class PageCheck:
    images: list[tuple[str, bool, int, int]]  # alt, complete, natural width, natural height
    errors: list[str]  # console errors, failed loads, uncaught exceptions
    screenshot: bytes  # PNG of the whole page
    text: str = ""  # document.body.innerText: what a reader sees, in page order


def open_page(url: str, timeout_s: float = 60, ready: str | None = None) -> PageCheck:
    """Load `url` in a fresh headless Chromium (a throwaway profile) and report what a reader would see; with
    `ready` (a JavaScript expression), wait after loading until it is true (TimeoutError past `timeout_s`)."""
    with tempfile.TemporaryDirectory() as profile:
        browser = _Browser(find_chromium(), profile)
        try:
            return browser.check(url, time.monotonic() + timeout_s, ready)
        finally:
            browser.close()


class _Browser:
    def __init__(self, executable: str, profile: str):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        commands_read, replies_write = _above_4(commands_read), _above_4(replies_write)
        # Chromium reads commands on fd 3 and writes replies on fd 4: bash puts the pipes there before exec
        # (a preexec_fn would be unsafe in a test process that runs threads).
        redirect = f'exec "$0" "$@" 3<&{commands_read} 4>&{replies_write} {commands_read}<&- {replies_write}>&-'
        self.process = subprocess.Popen(["bash", "-c", redirect, executable, *FLAGS, f"--user-data-dir={profile}",
                                         "about:blank"], pass_fds=(commands_read, replies_write),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer, self._next_id, self.events = b"", 0, []

    def check(self, url: str, deadline: float, ready: str | None = None) -> PageCheck:
        target = self.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline=deadline)
        self.session = session["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", deadline=deadline)
        self.call("Page.navigate", {"url": url}, deadline=deadline)
        while not any(event.get("method") == "Page.loadEventFired" for event in self.events):
            self.events.append(self._read(deadline))
        while ready and not self.evaluate(f"Boolean({ready})", deadline):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page at {url} never became ready ({ready})")
            time.sleep(0.25)
        images = json.loads(self.evaluate(IMAGES, deadline))
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         deadline=deadline)
        return PageCheck([tuple(image) for image in images], self._errors(), base64.b64decode(shot["data"]),
                         self.evaluate("document.body ? document.body.innerText : ''", deadline))

    def evaluate(self, expression: str, deadline: float):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                         deadline=deadline)["result"].get("value")

    def call(self, method: str, params: dict | None = None, *, deadline: float) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if getattr(self, "session", None) and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise EOFError(f"Chromium closed the pipe (exit status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def close(self) -> None:
        try:
            os.write(self._commands, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)


def _above_4(fd: int) -> int:
    """The same pipe end on a descriptor of 10 or more, so that moving it to 3 or 4 cannot clobber another."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


def screenshot_path(name: str) -> Path:
    """Where a test keeps its screenshot: $TEST_ARTEFACTS (CI sets it) or test-artefacts/ in the repository."""
    folder = Path(os.environ.get("TEST_ARTEFACTS", Path(__file__).resolve().parents[1] / "test-artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
