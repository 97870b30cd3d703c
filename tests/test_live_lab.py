"""The live lab beside the static book (issue #19): a book page run cell by cell through
a real Jupyter server, as JupyterLab runs it, and JupyterLab itself opened in Chromium.

Each server is a subprocess of this interpreter (the environment that `make` built, where
`make lab` runs), bound to 127.0.0.1 on a free port with a random token, serving a copy of
book/, with its own artefact store (``FM_RUNS_DIR``; the explorer's tests use the session's
smoke store, so its networks and masks are computed once) and its own Jupyter config, data
and runtime folders. It is stopped whatever happens: its kernel deleted through the API
first, then the server terminated by its pid (killed if it does not stop). Every test here
starts a server, so all are ``slow``."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

from fm_core.book import check as book_check

pytest.importorskip("jupyter_server", reason="JupyterLab is not installed (requirements-lab.txt)")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed "
                                                    "(requirements-lab.txt)")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
PAGE = "01_dataset.ipynb"
# Chromium as book_check runs it (nothing but 127.0.0.1 reachable): the lab loads from its
# server alone. The loopback is exempt from the proxy (Chromium's default) and the resolver.
OFFLINE_BUT_THE_LAB = ["--proxy-server=127.0.0.1:9",
                       "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
#: what a reader types, or papermill injects, after the page's own parameters cell
PARAMETERS = 'profile = "smoke"\nsettings = {"dmask_lam": 0.5}\n'


def lab_offline_options() -> list[str]:
    """The options with which `make lab` keeps JupyterLab off the network."""
    match = re.search(r"^LAB_OFFLINE := (.+)$", (REPO / "Makefile").read_text(), re.M)
    assert match, "the Makefile has no LAB_OFFLINE line"
    return match.group(1).split()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, method: str = "GET", body: dict | None = None, timeout: float = 30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


class Server:
    def __init__(self, port: int, token: str, log: Path):
        self.base, self.token, self.log = f"http://127.0.0.1:{port}", token, log

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        return _request(f"{self.base}/api/{path}?token={self.token}", method, body)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextlib.contextmanager
def jupyter(module: str, tmp_path: Path, options: list[str] = (), ready_timeout: float = 90,
            runs: Path | None = None):
    """A running ``python -m <module>`` server (jupyter_server or jupyterlab); its kernels'
    artefact store is ``runs`` (default: a new one in ``tmp_path``)."""
    root = tmp_path / "book"
    if not root.exists():
        shutil.copytree(BOOK, root, ignore=shutil.ignore_patterns("_build", "_executed"))
    home = tmp_path / "jupyter-home"
    env = dict(os.environ, FM_RUNS_DIR=str(runs or tmp_path / "runs"), PYTHONPATH=str(REPO),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    port, token = _free_port(), secrets.token_hex(24)
    log = tmp_path / f"{module}.log"
    cmd = [sys.executable, "-m", module, "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False", *options]
    if os.geteuid() == 0:  # CI and the containers run as root
        cmd.append("--allow-root")
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(port, token, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{module} exited ({proc.returncode}) before answering:\n"
                            f"{server.log_tail()}")
            try:
                server.api("status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"{module} did not answer GET /api/status within "
                                f"{ready_timeout:.0f} s:\n{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        try:  # the kernels first, so that none outlives its server
            for kernel in server.api("kernels") if proc.poll() is None else []:
                server.api(f"kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


class KernelChannel:
    """The Jupyter messaging protocol over a kernel's websocket (jupyter_server's default
    JSON framing: each message carries its channel)."""

    def __init__(self, server: Server, kernel_id: str, timeout: float = 60):
        url = (f"{server.base.replace('http', 'ws', 1)}/api/kernels/{kernel_id}/channels"
               f"?token={server.token}")
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.session = uuid.uuid4().hex

    def close(self):
        self.ws.close()

    def _receive(self, timeout: float) -> dict:
        self.ws.settimeout(max(timeout, 0.1))
        frame = self.ws.recv()
        if isinstance(frame, bytes):  # a message with binary buffers: its JSON part only
            count = int.from_bytes(frame[:4], "big")
            offsets = [int.from_bytes(frame[4 + 4 * i:8 + 4 * i], "big") for i in range(count)]
            frame = frame[offsets[0]:offsets[1] if count > 1 else None].decode()
        return json.loads(frame)

    def execute(self, code: str, timeout: float = 300) -> tuple[dict, list[dict]]:
        """Run ``code``; its execute_reply content and its outputs, once the kernel is idle."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": self.session, "version": "5.3",
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        reply, idle, outputs = None, False, []
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no execute_reply and idle status within {timeout} s for:\n"
                                   f"{code[:300]}")
            msg = self._receive(deadline - time.monotonic())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if msg.get("channel") == "shell" and kind == "execute_reply":
                reply = content
            elif kind == "status":
                idle = content["execution_state"] == "idle"
            elif kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append({"output_type": kind, **content})
        return reply, outputs


def _text(output: dict) -> str:
    if output["output_type"] == "stream":
        return output["text"]
    if output["output_type"] == "error":
        return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output["traceback"]))  # no colours
    return "\n".join(str(output.get("data", {}).get(mime, ""))
                     for mime in ("text/plain", "text/markdown"))


def _cells_with_parameters(path: Path, parameters: str) -> list[str]:
    """The code cells of a notebook with ``parameters`` run right after its ``parameters``
    cell (as papermill injects them)."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} has {len(tagged)} parameters cells"
    sources = [c.source for c in cells]
    return sources[:tagged[0] + 1] + [parameters] + sources[tagged[0] + 1:]


def test_a_book_page_runs_in_a_live_kernel_with_a_changed_profile(tmp_path):
    started = time.monotonic()
    with jupyter("jupyter_server", tmp_path, lab_offline_options()) as server:
        specs = server.api("kernelspecs")["kernelspecs"]
        assert "python3" in specs, sorted(specs)  # the kernelspec every book notebook names
        assert "fourier-masks" in specs, ("the project's kernel is not registered in this "
                                          f"environment (make .venv/.installed): {sorted(specs)}")
        assert specs["fourier-masks"]["spec"]["argv"][0].startswith(sys.prefix)

        kernel = server.api("kernels", method="POST", body={"name": "python3"})
        channel = KernelChannel(server, kernel["id"])
        try:
            reply, outputs = channel.execute(
                "import os, sys\nprint(sys.prefix)\nprint(os.environ['FM_RUNS_DIR'])")
            assert reply["status"] == "ok", reply
            # the notebooks' python3 is this environment's ipykernel, never another Python
            assert _text(outputs[0]).split("\n")[:2] == [sys.prefix, str(tmp_path / "runs")]

            page = []
            for source in _cells_with_parameters(BOOK / PAGE, PARAMETERS):
                reply, outputs = channel.execute(source)
                errors = [_text(o) for o in outputs if o["output_type"] == "error"]
                assert reply["status"] == "ok" and not errors, (
                    f"cell failed:\n{source}\n{reply.get('ename')}: {reply.get('evalue')}\n"
                    + "\n".join(errors))
                page += outputs
        finally:
            channel.close()
    text = "\n".join(_text(o) for o in page)
    assert "The data sets: built with profile 'smoke'" in text, text[:2000]
    assert "dmask_lam=0.5" in text, "the changed setting is not in the page's header"
    assert not any(o["output_type"] == "stream" and o["name"] == "stderr"
                   and "Traceback" in o["text"] for o in page)
    print(f"{PAGE} with profile 'smoke' through a live server: "
          f"{time.monotonic() - started:.1f} s")


def test_the_explorer_redraws_in_a_live_kernel_when_a_control_changes(tmp_path, smoke_runs):
    """book/13_explorer.ipynb with its widgets, through a live server's kernel: the page
    runs, and setting the lambda control learns (or loads) and draws that lambda's mask."""
    with jupyter("jupyter_server", tmp_path, lab_offline_options(), runs=smoke_runs) as server:
        kernel = server.api("kernels", method="POST", body={"name": "python3"})
        channel = KernelChannel(server, kernel["id"])
        try:
            for source in _cells_with_parameters(BOOK / "13_explorer.ipynb",
                                                 'profile = "smoke"\nwidgets = True\n'):
                reply, outputs = channel.execute(source)
                errors = [_text(o) for o in outputs if o["output_type"] == "error"]
                assert reply["status"] == "ok" and not errors, f"cell failed:\n{source}\n" + "\n".join(errors)
            reply, outputs = channel.execute(
                "lam = max(explorer.lambdas(cfg))\nui.controls['lam'].value = lam\n"
                "ui.controls['condition'].value = 'adversarial'\n"
                "print(len(ui.views), ui.views[-1]['condition'], ui.views[-1]['lambda'] == lam)")
            assert reply["status"] == "ok", reply
            assert _text(outputs[-1]).split() == ["3", "adversarial", "True"], [_text(o) for o in outputs]
        finally:
            channel.close()


def _devtools_page(port: int, timeout: float = 60):
    """The websocket of headless Chromium's first page, over its DevTools protocol."""
    import websocket
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as answer:
                targets = json.load(answer)
            page = next(t for t in targets if t["type"] == "page")
            return websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        except (OSError, StopIteration, ValueError):
            if time.monotonic() > deadline:
                pytest.fail("Chromium's DevTools endpoint did not answer")
            time.sleep(0.5)


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (apt-get install chromium): the explorer is not "
                           "run in a browser")
def test_the_explorer_runs_in_jupyterlab_in_a_browser(tmp_path, smoke_runs):
    """JupyterLab in headless Chromium opens a book page, 13_explorer.ipynb, starts its
    kernel, runs all its cells (the lab's own Run All command), and shows the explorer's
    controls and its drawn row. (It took over from a test that only opened a page in the
    lab: one lab server, browser and kernel fewer in the test loop.)"""
    page_file = tmp_path / "book" / "13_explorer.ipynb"
    shutil.copytree(BOOK, tmp_path / "book", ignore=shutil.ignore_patterns("_build", "_executed"))
    nb = nbformat.read(page_file, as_version=4)
    tagged = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    tagged.source = tagged.source.replace('profile = "quick"', 'profile = "smoke"')
    nbformat.write(nb, page_file)
    png, port = tmp_path / "explorer.png", _free_port()
    with jupyter("jupyterlab", tmp_path, [*lab_offline_options(), "--LabApp.expose_app_in_browser=True"],
                 runs=smoke_runs) as server:
        profile = tmp_path / "chromium-profile"
        chrome = subprocess.Popen(
            [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", *OFFLINE_BUT_THE_LAB,
             "--window-size=1280,1400", f"--remote-debugging-port={port}",
             # Chromium 111+ refuses DevTools websockets from any origin not listed
             f"--remote-allow-origins=http://127.0.0.1:{port}",
             f"{server.base}/lab/tree/13_explorer.ipynb?token={server.token}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=str(profile)))
        try:
            ws, calls = _devtools_page(port), iter(range(1, 10_000))

            def evaluate(code: str):
                n = next(calls)
                ws.send(json.dumps({"id": n, "method": "Runtime.evaluate",
                                    "params": {"expression": code, "awaitPromise": True, "returnByValue": True}}))
                while True:
                    message = json.loads(ws.recv())
                    if message.get("id") == n:
                        return message.get("result", {}).get("result", {}).get("value")

            def wait_for(code: str, what: str, timeout: float):
                deadline = time.monotonic() + timeout
                while not evaluate(code):
                    if time.monotonic() > deadline:
                        seen = evaluate("[document.querySelectorAll('.widget-dropdown').length, "
                                        "document.querySelectorAll('.jp-OutputArea-output img').length, "
                                        "Array.from(document.querySelectorAll('.jp-OutputArea-output')).map("
                                        "e => e.innerText.slice(0, 200)).join(' | ').slice(-1500)]")
                        pytest.fail(f"{what} within {timeout:.0f} s; page: {seen}\n{server.log_tail()}")
                    time.sleep(1)

            wait_for("!!(window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell'))",
                     "JupyterLab did not open the notebook", 90)
            wait_for("window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
                     "the notebook's kernel did not start", 90)
            evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells'); true")  # not awaited
            # the static grid's figure and the explorer's own row: two images, three dropdowns
            wait_for("document.querySelectorAll('.widget-dropdown').length >= 3 && "
                     "document.querySelectorAll('.jp-OutputArea-output img').length >= 2",
                     "the explorer's controls and drawn row did not appear", 150)
            evaluate("document.querySelector('.widget-dropdown').scrollIntoView({block: 'start'})")
            n = next(calls)
            ws.send(json.dumps({"id": n, "method": "Page.captureScreenshot", "params": {"format": "png"}}))
            while (message := json.loads(ws.recv())).get("id") != n:
                pass
            png.write_bytes(base64.b64decode(message["result"]["data"]))
            ws.close()
        finally:
            chrome.terminate()
            chrome.wait(timeout=20)
    print(f"explorer in JupyterLab: {png}")
    if os.environ.get("FM_LAB_SCREENSHOT"):
        shutil.copy(png, Path(os.environ["FM_LAB_SCREENSHOT"]).with_name("explorer_in_lab.png"))
    assert book_check.dominant_colour_fraction(png) < 0.97
