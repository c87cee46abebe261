"""A real JupyterLab server for the tests, and a notebook executed through it over Jupyter's REST and kernel
websocket API, as the browser does: ``POST /api/sessions`` starts a kernel, ``/api/kernels/<id>/channels``
carries the execute requests and their outputs, ``/api/contents`` saves the result.

No mock: the server is ``jupyter lab`` in a subprocess, the kernel the one it starts.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib import error, request

__all__ = ["LabServer", "lab_server", "execute_notebook", "free_port", "read_url_file"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A running server: ``url`` (``http://127.0.0.1:<port>``) and ``token``; :meth:`api` calls its REST API."""

    def __init__(self, url: str, token: str, proc: subprocess.Popen | None = None, log: Path | None = None):
        self.url, self.token, self.proc, self.log = url, token, proc, log

    def api(self, method: str, path: str, body=None, *, token: bool = True, timeout: float = 30):
        """``(status, parsed JSON or None)`` of one REST call (an HTTP error status is returned, not raised)."""
        data = None if body is None else json.dumps(body).encode()
        req = request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text else None)
        except error.HTTPError as exc:
            return exc.code, None

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited ({self.proc.returncode}): {self._log_tail()}")
            try:
                if self.api("GET", "/api/status", timeout=5)[0] == 200:
                    return
            except (OSError, error.URLError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"jupyter lab did not answer within {timeout} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log and self.log.exists() else ""


@contextmanager
def lab_server(root: Path, env: dict[str, str | None] | None = None):
    """``jupyter lab`` on 127.0.0.1 and a free port, token required, serving `root`; stopped afterwards.

    `env` adds to the server's (and so its kernels') environment; a ``None`` value removes the variable.
    """
    token = secrets.token_urlsafe(24)
    port = free_port()
    log = root.parent / f"jupyterlab-{port}.log"
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        args.append("--allow-root")
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    full_env["JUPYTER_TOKEN"] = token  # the token through the environment, as slurm/jupyterlab.sbatch passes it
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    server = LabServer(f"http://127.0.0.1:{port}", token, proc, log)
    try:
        server.wait_ready()
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _message(code: str, session: str) -> dict:
    msg_id = uuid.uuid4().hex
    return {"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
                       "date": datetime.now(UTC).isoformat(), "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}


def _output(msg: dict) -> dict | None:
    """The nbformat output of one iopub message, or ``None`` for messages that are not outputs."""
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        return {"output_type": "stream", "name": content["name"], "text": content["text"]}
    if kind in ("display_data", "execute_result"):
        out = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
        if kind == "execute_result":
            out["execution_count"] = content["execution_count"]
        return out
    if kind == "error":
        return {"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                "traceback": content["traceback"]}
    return None


def execute_notebook(server: LabServer, path: str, timeout: float = 600) -> dict:
    """Run every code cell of notebook `path` (relative to the server's root) in a kernel the server starts,
    store the outputs through the contents API and return the saved notebook (nbformat JSON)."""
    import websocket

    status, model = server.api("GET", f"/api/contents/{path}")
    assert status == 200, f"GET /api/contents/{path}: {status}"
    nb = model["content"]
    status, sess = server.api("POST", "/api/sessions", {"path": path, "type": "notebook", "name": path,
                                                        "kernel": {"name": "python3"}})
    assert status == 201, f"POST /api/sessions: {status}"
    kernel = sess["kernel"]["id"]
    session = uuid.uuid4().hex
    ws_url = server.url.replace("http://", "ws://") + f"/api/kernels/{kernel}/channels?session_id={session}"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {server.token}"], timeout=timeout)
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            msg = _message(cell["source"], session)
            ws.send(json.dumps(msg))
            cell["outputs"], done, reply = [], False, None
            while not (done and reply is not None):
                incoming = json.loads(ws.recv())
                if incoming.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                    continue
                if incoming["channel"] == "shell" and incoming["msg_type"] == "execute_reply":
                    reply = incoming["content"]
                elif incoming["channel"] == "iopub":
                    if incoming["msg_type"] == "status" and incoming["content"]["execution_state"] == "idle":
                        done = True
                    out = _output(incoming)
                    if out is not None:
                        cell["outputs"].append(out)
            cell["execution_count"] = reply.get("execution_count")
            if reply["status"] != "ok":
                break
    finally:
        ws.close()
        server.api("DELETE", f"/api/sessions/{sess['id']}")
    status, _ = server.api("PUT", f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": nb})
    assert status in (200, 201), f"PUT /api/contents/{path}: {status}"
    return server.api("GET", f"/api/contents/{path}")[1]["content"]


def read_url_file(path: Path) -> LabServer:
    """The server named by the ``.url`` file that slurm/jupyterlab.sbatch writes (``http://localhost:P/lab?token=T``)."""
    url = path.read_text().strip()
    head, _, token = url.partition("/lab?token=")
    return LabServer(head.replace("localhost", "127.0.0.1"), token)
