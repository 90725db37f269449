"""A Hugging Face hub endpoint on 127.0.0.1 serving ``save_pretrained`` folders, for the real download code.

Point ``HF_ENDPOINT`` at :attr:`LocalHub.url`: ``huggingface_hub`` then lists a repository (``/api/models/...``)
and fetches its files (``/<repo>/resolve/<revision>/<file>``) from here, exactly as from the hub. Each request is
recorded, so a test can prove that a second, offline run asked nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class LocalHub:
    """``LocalHub({"owner/name": folder})`` as a context manager; ``requests`` lists the paths asked for."""

    def __init__(self, repos: dict[str, Path]):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.sha = {repo: hashlib.sha1(repo.encode()).hexdigest() for repo in repos}  # the "commit"
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: pytest shows failures, not traffic
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                status, headers, payload = hub.route(path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _files(self, repo: str) -> list[Path]:
        return sorted(p for p in self.repos[repo].iterdir() if p.is_file())

    def route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        missing = (404, {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"},
                   json.dumps({"error": "Repository not found"}).encode())
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            repo = "/".join(parts[2:4])
            if repo not in self.repos:
                return missing
            files = self._files(repo)
            if parts[4] == "revision":
                info = {"id": repo, "modelId": repo, "sha": self.sha[repo], "private": False,
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
            file = self.repos[repo] / name
            if not file.is_file():
                return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.sha[repo]}, b"Entry not found"
            data = file.read_bytes()
            return 200, {"X-Repo-Commit": self.sha[repo], "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                         "Content-Type": "application/octet-stream"}, data
        return missing
