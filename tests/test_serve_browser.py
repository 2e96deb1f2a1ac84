"""The page in headless Chromium (driven through chromedriver's WebDriver HTTP API): ask, read the highlight."""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from destila.infer.postprocess import clean_answer
from destila.infer.predictor import Predictor
from serve_helpers import free_port, running_server, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver web element identifier
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,900",
]


class WebDriver:
    """Just enough of the W3C WebDriver protocol, over httpx."""

    def __init__(self, base: str, user_data_dir: str):
        self.http = httpx.Client(base_url=base, timeout=60.0)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [*FLAGS, f"--user-data-dir={user_data_dir}"],
                    },
                }
            }
        }
        self.session = self._ok(self.http.post("/session", json=caps))["sessionId"]

    @staticmethod
    def _ok(response: httpx.Response):
        data = response.json()
        assert response.status_code == 200, f"WebDriver error {response.status_code}: {data}"
        return data["value"]

    def _post(self, path: str, payload: dict | None = None):
        return self._ok(self.http.post(f"/session/{self.session}{path}", json=payload or {}))

    def go(self, url: str) -> None:
        self._post("/url", {"url": url})

    def find(self, css: str) -> str:
        found = self._post("/element", {"using": "css selector", "value": css})
        return found.get(ELEMENT_KEY) or next(iter(found.values()))

    def type_into(self, css: str, text: str) -> None:
        element = self.find(css)
        self._post(f"/element/{element}/clear")
        self._post(f"/element/{element}/value", {"text": text})

    def click(self, css: str) -> None:
        self._post(f"/element/{self.find(css)}/click")

    def script(self, source: str, *args):
        return self._post("/execute/sync", {"script": source, "args": list(args)})

    def screenshot(self, path: Path) -> None:
        png = self._ok(self.http.get(f"/session/{self.session}/screenshot"))
        path.write_bytes(base64.b64decode(png))

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self.http.delete(f"/session/{self.session}")
        self.http.close()


@contextlib.contextmanager
def chromedriver():
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} is missing: run `make browser` (Debian's chromium and chromium-driver)")
    port = free_port()
    proc = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="destila-chromium-")
    driver = None
    try:
        wait_until(
            lambda: httpx.get(base + "/status", timeout=1).json()["value"]["ready"], 30, "chromedriver", proc
        )
        driver = WebDriver(base, profile)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)


def test_page_asks_and_highlights_the_answer(tiny_qa_model_dir, tmp_path):
    context = "El Museo del Prado abrió sus puertas en 1819 con obras de Velázquez y Goya."
    question = "¿Cuándo abrió el Museo del Prado?"
    expected = clean_answer(Predictor.from_pretrained(tiny_qa_model_dir, threads=1)(question=question, context=context))
    with running_server(tiny_qa_model_dir) as base, chromedriver() as browser:
        browser.go(base + "/")
        wait_until(lambda: browser.script("return document.readyState") == "complete", 20, "page load")
        assert browser.script("return document.documentElement.lang") == "es"
        browser.type_into("#context", context)
        browser.type_into("#question", question)
        browser.click("#ask")
        read_back = (
            "var m = document.getElementById('answer-mark');"
            "return m ? [m.textContent, document.getElementById('highlighted').textContent,"
            " document.getElementById('answer').textContent] : null;"
        )
        marked, whole, shown = wait_until(lambda: browser.script(read_back), 20, "highlighted answer")
        browser.screenshot(tmp_path / "page.png")
        read_error = "var e = document.getElementById('error'); return e.hidden ? '' : e.textContent"
        error = browser.script(read_error)
        # a refused question is explained in Spanish, and the page keeps working
        browser.script("document.getElementById('question').value = '¿' + 'a'.repeat(1200) + '?'")
        browser.click("#ask")
        refusal = wait_until(lambda: browser.script(read_error), 20, "error message")
        browser.screenshot(tmp_path / "refused.png")
    assert error == ""
    assert "demasiado larga" in refusal and "1000" in refusal, refusal
    assert marked == expected["answer"] == context[expected["start"] : expected["end"]]
    assert shown == expected["answer"]
    assert whole == context  # the context is shown whole, the answer marked in place
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
