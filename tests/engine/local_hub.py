"""A Hugging Face hub endpoint on 127.0.0.1 serving ``save_pretrained`` folders, for the real download code.

Point ``HF_ENDPOINT`` at :attr:`LocalHub.url`: ``huggingface_hub`` then lists a repository (``/api/models/...``) and
fetches its files (``/<repo>/resolve/<revision>/<file>``) from here, exactly as from the hub. Each request is
recorded, so a test can prove that a second, offline run asked nothing.

What a real hub does that the download path must meet is here too: a model card's licence (the folder's
``README.md`` front matter, answered as ``cardData``), gated repositories (``gated``: 401 without a token, 403 with
a wrong one, the hub's ``GatedRepo`` error code), HTTP Range requests (206, what resuming needs), and faults per
file name (``faults``): ``cut`` sends half a file and drops the connection (once: the next request is answered),
``down`` answers 500 to every GET of that file; ``stall`` sends half and then waits, silent, until the hub closes;
``slow`` sends it in pieces over about a second. ``served`` records (path, Range header, bytes of body sent) per GET
of a file.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


def card_data(folder: Path) -> dict[str, str]:
    """The ``key: value`` lines of a README.md's front matter (between the first two ``---`` lines)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    lines = readme.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    data = {}
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, _, value = line.partition(":")
        if value.strip():
            data[key.strip()] = value.strip()
    return data


class LocalHub:
    """``LocalHub({"owner/name": folder})`` as a context manager; ``requests`` lists the paths asked for.

    Args:
        repos: hub id -> the folder served under it.
        gated: ids answered only to a request carrying ``Authorization: Bearer <token>`` (``token``).
        token: the token a gated repository accepts.
    """

    def __init__(self, repos: dict[str, Path], gated: set[str] | None = None, token: str = "hf_accepted"):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.sha = {repo: hashlib.sha1(repo.encode()).hexdigest() for repo in repos}  # the "commit"
        self.gated = set(gated or ())
        self.token = token
        self.requests: list[str] = []
        self.served: list[tuple[str, str, int]] = []
        self.faults: dict[str, str] = {}
        self.release = threading.Event()  # set on exit: stalled answers end
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet: pytest shows failures, not traffic
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                status, headers, payload = hub.route(path, self.headers.get("Authorization", ""))
                name = path.rsplit("/", 1)[-1]
                fault = hub.faults.get(name) if body and "/resolve/" in path and status == 200 else None
                if fault == "down":
                    status, headers, payload = 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
                wanted = self.headers.get("Range", "")
                if status == 200 and wanted.startswith("bytes=") and "/resolve/" in path and fault != "down":
                    first = int(wanted[6:].split("-")[0] or 0)
                    headers["Content-Range"] = f"bytes {first}-{len(payload) - 1}/{len(payload)}"
                    status, payload = 206, payload[first:]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not body:
                    return
                if fault in ("cut", "stall"):
                    half = payload[: len(payload) // 2]
                    self.wfile.write(half)
                    self.wfile.flush()
                    hub.served.append((path, wanted, len(half)))
                    if fault == "stall":
                        hub.release.wait(60)
                    else:
                        hub.faults.pop(name, None)
                    self.close_connection = True
                    return
                if fault == "slow":  # in 24 pieces a few hundredths of a second apart: progress to see
                    step = max(1, len(payload) // 24)
                    for start in range(0, len(payload), step):
                        self.wfile.write(payload[start:start + step])
                        self.wfile.flush()
                        time.sleep(0.05)
                else:
                    self.wfile.write(payload)
                if "/resolve/" in path:
                    hub.served.append((path, wanted, len(payload)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _files(self, repo: str) -> list[Path]:
        return sorted(p for p in self.repos[repo].iterdir() if p.is_file())

    def _refused(self, repo: str, authorization: str) -> tuple[int, dict[str, str], bytes] | None:
        """The hub's answer to a gated repository asked without (401) or with a wrong (403) token."""
        if repo not in self.gated or authorization == f"Bearer {self.token}":
            return None
        status = 403 if authorization else 401
        message = f"Access to model {repo} is restricted. You must have access to it and be authenticated."
        return status, {"X-Error-Code": "GatedRepo", "X-Error-Message": message,
                        "Content-Type": "application/json"}, json.dumps({"error": message}).encode()

    def route(self, path: str, authorization: str = "") -> tuple[int, dict[str, str], bytes]:
        missing = (404, {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"},
                   json.dumps({"error": "Repository not found"}).encode())
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = "/".join(parts[2:4])
            if repo not in self.repos:
                return missing
            refused = self._refused(repo, authorization)
            if refused:
                return refused
            files = self._files(repo)
            if len(parts) == 4 or parts[4] == "revision":
                info = {"id": repo, "modelId": repo, "sha": self.sha[repo], "private": False,
                        "gated": "manual" if repo in self.gated else False,
                        "cardData": card_data(self.repos[repo]),
                        "siblings": [{"rfilename": p.name} for p in files]}
                return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
            if parts[4] == "tree":
                tree = [{"type": "file", "path": p.name, "size": p.stat().st_size,
                         "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for p in files]
                return 200, {"Content-Type": "application/json"}, json.dumps(tree).encode()
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, name = "/".join(parts[:2]), "/".join(parts[4:])
            if repo not in self.repos:
                return missing
            refused = self._refused(repo, authorization)
            if refused:
                return refused
            file = self.repos[repo] / name
            if not file.is_file():
                return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.sha[repo]}, b"Entry not found"
            data = file.read_bytes()
            return 200, {"X-Repo-Commit": self.sha[repo], "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                         "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}, data
        return missing
