"""Headless Debian Chromium driven through its DevTools protocol (python3-websocket).

    with Browser() as b:
        page = b.open("file:///tmp/replay.html", width=1440, height=900)
        page.wait_for("window.replay !== undefined")
        page.eval("window.replay.state().end")
        page.screenshot("/tmp/shot.png")

Chromium runs with a fresh profile in a temp dir, no network services of its own (no
component updates, sync or background networking) and, as root, without its sandbox. The
DevTools port is chosen by Chromium (--remote-debugging-port=0) and read back from the
profile's DevToolsActivePort file, so parallel tests never collide.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import websocket  # python3-websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class PageError(Exception):
    """A DevTools call failed or a script on the page threw."""


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.console = []  # (level, text) of console messages and uncaught exceptions
        self.call("Runtime.enable")
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise PageError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg):
        method = msg.get("method")
        if method == "Runtime.consoleAPICalled":
            args = msg["params"].get("args", [])
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            self.console.append((msg["params"].get("type"), text))
        elif method == "Runtime.exceptionThrown":
            d = msg["params"]["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            self.console.append(("exception", text))

    def errors(self):
        return [t for (level, t) in self.console if level in ("error", "exception")]

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def eval(self, expression):
        """Evaluates `expression` on the page (awaiting promises) and returns its JSON value."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise PageError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")

    def wait_for(self, expression, timeout=15, interval=0.1):
        """Polls until `expression` is truthy on the page; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                value = self.eval(expression)
                if value:
                    return value
            except PageError as e:  # the page may still be loading
                last = e
            if time.monotonic() > deadline:
                raise TimeoutError(f"page: timed out after {timeout}s waiting for {expression}"
                                   + (f" (last error: {last})" if last else "")
                                   + (f"; page errors: {self.errors()}" if self.errors() else ""))
            time.sleep(interval)

    def screenshot(self, path, full_page=False):
        """The viewport, or with `full_page` the whole page however long it is."""
        params = {"format": "png"}
        if full_page:
            size = self.eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1})
        data = self.call("Page.captureScreenshot", **params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


class Browser:
    def __init__(self):
        if not os.path.exists(CHROMIUM):
            raise FileNotFoundError(f"{CHROMIUM} not found (scripts/install-deps.sh installs chromium)")
        self.profile = tempfile.mkdtemp(prefix="raftkv-chromium-")
        argv = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
            f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
            "--remote-allow-origins=*", "about:blank",
        ]
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.port = self._devtools_port()
        self.pages = []

    def _devtools_port(self, timeout=30):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: "
                                   + open(os.path.join(self.profile, "chromium.log"), "rb").read()
                                   .decode("utf-8", "replace")[-2000:])
            try:
                with open(path) as f:
                    port = f.readline().strip()
                if port:
                    return int(port)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def open(self, url, width=1440, height=900):
        """A new tab of the given viewport size at `url`."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank",
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            target = json.load(r)
        page = Page(target["webSocketDebuggerUrl"])
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        page.call("Page.bringToFront")  # a background tab gets no animation frames
        page.navigate(url)
        self.pages.append(page)
        return page

    def close(self):
        for p in self.pages:
            p.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BrowserTestCase(unittest.TestCase):
    """A test class sharing one Chromium (self.browser) among its tests."""

    @classmethod
    def setUpClass(cls):
        cls.browser = Browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
