"""A real `destila serve` process on a free 127.0.0.1 port, for the live and browser tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"{what}: the process exited with {proc.returncode}: {out[-3000:]}")
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001  not up yet
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{what}: not ready after {timeout} s ({last})")


@contextlib.contextmanager
def running_server(model_dir, *extra: str, timeout: float = 60.0):
    """Yields the base URL of `destila serve --model model_dir` and stops the process afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "destila",
            "serve",
            "--model",
            str(model_dir),
            "--port",
            str(port),
            "--threads",
            "1",
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: httpx.get(base + "/healthz", timeout=1.0).status_code == 200,
            timeout,
            "destila serve",
            proc,
        )
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
