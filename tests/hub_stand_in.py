"""A local stand-in for the Hugging Face Hub's HTTP API, and `destila push` run against it.

The stand-in (http.server on 127.0.0.1) plays the endpoints huggingface_hub calls for create_repo, create_branch
and upload_folder: repos/create, branch, validate-yaml (the card's header), preupload (answering "regular" so file
contents travel inside the commit) and commit (NDJSON, base64 contents). Nothing leaves the machine. The
`stand_in_hub` fixture (conftest.py) serves it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOKEN = "hf_destilaTestTokenNeverShown0123456789"


class StandInHub(BaseHTTPRequestHandler):
    """Records every request; answers like the Hub for the calls an upload makes."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hub = self.server.hub
        hub["requests"].append((self.path, self.headers.get("Authorization")))
        parts = self.path.split("?")[0].strip("/").split("/")
        base = f"http://127.0.0.1:{self.server.server_port}"
        if parts[:3] == ["api", "repos", "create"]:
            payload = json.loads(body)
            hub["created"].append(payload)
            return self._json({"url": f"{base}/{payload['organization']}/{payload['name']}"})
        if parts == ["api", "validate-yaml"]:
            return self._json({"errors": [], "warnings": []})
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("branch", "preupload", "commit"):
            repo, action, revision = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
            hub["revisions"].append((action, repo, revision))
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                              "oid": None} for f in files]})
            if action == "commit":
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        hub["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    elif item["key"] == "header":
                        hub["commits"].append(item["value"]["summary"])
                return self._json({"commitUrl": f"{base}/{repo}/commit/0123abcd", "commitOid": "0123abcd"})
            return self._json({"name": revision})
        self.send_error(404)

    def _json(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def serving():
    """A stand-in hub on a free port of 127.0.0.1; `server.hub` records what it was sent."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    server.hub = {"requests": [], "created": [], "revisions": [], "files": {}, "commits": []}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_push(folder: Path, repo: str, hub_server, tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """`destila push --model FOLDER --repo REPO [options]` in a fresh process talking to the stand-in hub (the Hub's
    address is read when huggingface_hub is imported)."""
    args = [sys.executable, "-m", "destila", "push", "--model", str(folder), "--repo", repo, *options]
    return subprocess.run(args, env=hub_env(hub_server, tmp_path), capture_output=True, text=True, timeout=120,
                          check=False)


def hub_env(hub_server, tmp_path: Path) -> dict:
    """The environment of a process that talks to the stand-in hub with the test token."""
    return {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{hub_server.server_port}", "HF_TOKEN": TOKEN,
            "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1",
            "PYTHONPATH": os.pathsep.join(sys.path)}
