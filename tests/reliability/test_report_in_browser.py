"""report.html opened in a real browser (issue 22): headless Chromium loads it with the network blocked, every
image decodes, nothing but the page itself is fetched, and a screenshot is kept.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages ending in
NUL on file descriptors 3 and 4), so the test needs no WebDriver package. ``.ci/run`` installs Debian's
``chromium`` when it is absent; elsewhere, without a Chromium, the test skips with the reason.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from radgen.cli import main
from radgen.models.base import build_model
from radgen.models.export import save_exported
from radgen.viz import save_grid

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run installs it)"
)


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path):
        r_chrome, w_ours = os.pipe()  # we write commands to fd 3 of chromium
        r_ours, w_chrome = os.pipe()  # chromium writes replies and events to its fd 4
        args = [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # any network fetch would fail (and is recorded)
            "--window-size=1200,1600",
            "about:blank",
        ]

        def plumb():  # in the child: its fds 3 and 4 become the pipe ends (first moved above 4, so none is clobbered)
            a, b = fcntl.fcntl(r_chrome, fcntl.F_DUPFD, 10), fcntl.fcntl(w_chrome, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        # pass_fds keeps the child's fds 3 and 4 open through exec (they are closed after preexec_fn otherwise)
        self.proc = subprocess.Popen(
            args, preexec_fn=plumb, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(r_chrome)
        os.close(w_chrome)
        self.w, self.r = os.fdopen(w_ours, "wb", 0), os.fdopen(r_ours, "rb", 0)
        self.next_id, self.events, self.buf = 0, [], b""

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = self.r.read(65536)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for e in self.events:
            if e.get("method") == method:
                return e
        while True:
            e = self._read(deadline)
            self.events.append(e)
            if e.get("method") == method:
                return e

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 (closing anyway)
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def report(tmp_path) -> Path:
    """A report of a small run folder with three figures (curves, samples, reconstructions)."""
    run = tmp_path / "vae-run"
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [8]}, image_size=16, channels=1, num_classes=2)
    save_exported(model, run / "export", extra={"data": {"class_names": ["a", "b"]}})
    (run / "run.json").write_text(
        json.dumps(
            {
                "model": "vae",
                "parameters": 10,
                "losses": "bce",
                "data": {"name": "x", "image_size": [16, 16], "splits": {"train": 4}, "class_names": ["a", "b"]},
            }
        )
    )
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "vae"}}))
    (run / "metrics.json").write_text(json.dumps({"warnings": ["epoch 1: collapse", "epoch 2: collapse"]}))
    g = torch.Generator().manual_seed(0)
    save_grid(torch.rand(16, 1, 16, 16, generator=g), run / "curves.png")
    save_grid(torch.rand(16, 1, 16, 16, generator=g), run / "reconstructions.png")
    (run / "samples").mkdir()
    save_grid(torch.rand(16, 1, 16, 16, generator=g), run / "samples" / "epoch_0001.png")
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 0
    return tmp_path / "rep" / "report.html"


def test_report_renders_in_chromium_with_every_image_decoded_and_nothing_fetched(report, tmp_path):
    html = report.read_text()
    n_img = html.count("<img")
    assert n_img >= 2  # the figures are embedded as data: URIs
    browser = DevTools(tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.call("Network.enable", session=session)
        browser.call("Page.enable", session=session)
        browser.call("Page.navigate", {"url": report.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        images = browser.call(
            "Runtime.evaluate",
            {
                "expression": "JSON.stringify({images: [...document.images].map(i => [i.complete, i.naturalWidth]), "
                "quotes: document.querySelectorAll('blockquote').length, "
                "quoted_images: document.querySelectorAll('blockquote img').length})",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    finally:
        browser.close()
    page = json.loads(images)
    decoded = page["images"]
    assert page["quotes"] == 2 and page["quoted_images"] == 0  # each warning its own block; figures outside them
    assert len(decoded) == n_img and all(ok and width > 0 for ok, width in decoded), decoded
    fetched = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert fetched and all(u == report.as_uri() or u.startswith("data:") for u in fetched), fetched
    png = base64.b64decode(shot)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    (tmp_path / "report.png").write_bytes(png)  # kept with the test's files for a look
