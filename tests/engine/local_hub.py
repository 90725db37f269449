"""A Hugging Face hub endpoint on 127.0.0.1 serving ``save_pretrained`` folders, for the real download code.

Point ``HF_ENDPOINT`` at :attr:`LocalHub.url`: ``huggingface_hub`` then lists a repository (``/api/models/...``) and
fetches its files (``/<repo>/resolve/<revision>/<file>``) from here, exactly as from the hub. Each request is
recorded, so a test can prove that a second, offline run asked nothing.

What a real hub does that the download path must meet is here too: a model card's licence (the folder's
``README.md`` front matter, answered as ``cardData``), the config's ``model_type`` and ``architectures`` in the
record (``config``, as the hub summarises a repository's config.json), gated repositories (``gated``: 401 without a
token, 403 with a wrong one, the hub's ``GatedRepo`` error code, on the files: the repository's record stays public,
as on the hub), HTTP Range requests (206, what resuming needs), and faults per file name (``faults``): ``cut`` sends
half a file and drops the connection (once: the next request is answered), ``drop`` ends every answer of that file
at the same byte (``drop_at``, 90 % by default: a link that dies there, Range requests included, until the fault is
cleared), ``down`` answers 500 to every GET of that file; ``stall`` sends half and then waits, silent, until the hub
closes; ``slow`` sends it in pieces over about a second; ``trickle`` sends 200 bytes every quarter of a second
(800 B/s, a server that never quite stops; ended only by a rule on the rate); ``norange`` answers a Range request
with the whole file (200), as a proxy that strips ranges does; ``misrange`` answers it with a 206 of the whole file
(its ``Content-Range`` from byte 0: other bytes than asked). ``served`` records (path, Range header, bytes of body
sent) per GET of a file.

``lfs=True`` serves weights files (``*.safetensors``, ``*.bin``, ``*.pt``, ...) as the hub serves LFS files: the
``resolve`` address answers 302 with ``X-Linked-Etag`` (the file's sha256) and ``X-Linked-Size``, pointing at a
second address (another port: another origin, as the hub's CDN) that serves the bytes without a token; other files
get the git blob sha1 as ``ETag``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack"}


def git_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (the hub's ETag of a file kept in git rather than LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id, not security


def _file(path: str) -> bool:
    """A file's bytes are asked for (the hub's resolve address, or the CDN's)."""
    return "/resolve/" in path or path.startswith("/cdn/")


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


def config_record(folder: Path) -> dict[str, dict]:
    """The hub's summary of a repository's config.json in its record (``config``: model_type, architectures)."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return {}
    if not isinstance(config, dict):
        return {}
    return {"config": {k: config[k] for k in ("model_type", "architectures") if config.get(k)}}


class LocalHub:
    """``LocalHub({"owner/name": folder})`` as a context manager; ``requests`` lists the paths asked for.

    Args:
        repos: hub id -> the folder served under it.
        gated: ids answered only to a request carrying ``Authorization: Bearer <token>`` (``token``).
        token: the token a gated repository accepts.
    """

    def __init__(self, repos: dict[str, Path], gated: set[str] | None = None, token: str = "hf_accepted",
                 lfs: bool = False):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.lfs = lfs
        self.drop_at = 0.9
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
                fault = hub.faults.get(name) if body and _file(path) and status == 200 else None
                if fault == "down":
                    status, headers, payload = 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
                wanted = self.headers.get("Range", "")
                first = 0
                if (status == 200 and wanted.startswith("bytes=") and _file(path)
                        and fault not in ("down", "norange")):
                    first = int(wanted[6:].split("-")[0] or 0)
                    if fault == "misrange":  # a 206 of other bytes than asked: the file from its start
                        first = 0
                    headers["Content-Range"] = f"bytes {first}-{len(payload) - 1}/{len(payload)}"
                    status, payload = 206, payload[first:]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not body:
                    return
                if fault == "drop":  # the link dies at the same byte of the file, whatever was asked
                    part = payload[: max(0, int((first + len(payload)) * hub.drop_at) - first)]
                    self.wfile.write(part)
                    self.wfile.flush()
                    hub.served.append((path, wanted, len(part)))
                    self.close_connection = True
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
                if fault == "trickle":
                    sent = 0
                    try:
                        for start in range(0, len(payload), 200):
                            self.wfile.write(payload[start:start + 200])
                            self.wfile.flush()
                            sent += len(payload[start:start + 200])
                            if hub.release.wait(0.25):
                                break
                    except OSError:  # the client gave up
                        pass
                    hub.served.append((path, wanted, sent))
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
                if _file(path):
                    hub.served.append((path, wanted, len(payload)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # LFS bytes: another origin, as the hub's CDN
        self.cdn.daemon_threads = True
        self.cdn_url = f"http://127.0.0.1:{self.cdn.server_address[1]}"
        self.threads = [threading.Thread(target=server.serve_forever, daemon=True)
                        for server in (self.server, self.cdn)]

    def __enter__(self) -> LocalHub:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        for server in (self.server, self.cdn):
            server.shutdown()
            server.server_close()

    def sent(self, name: str) -> int:
        """Body bytes sent so far for files called ``name`` (every GET, the hub's and the CDN's address)."""
        return sum(n for path, _, n in self.served if path.rsplit("/", 1)[-1] == name)

    def _files(self, repo: str) -> list[Path]:
        return sorted(p for p in self.repos[repo].rglob("*") if p.is_file())  # a release's files may be nested

    def _name(self, repo: str, path: Path) -> str:
        """A file's name in its repository (the path below the repository's folder, with /)."""
        return path.relative_to(self.repos[repo]).as_posix()

    def _refused(self, repo: str, authorization: str) -> tuple[int, dict[str, str], bytes] | None:
        """The hub's answer to a gated repository's file asked without (401) or with a wrong (403) token."""
        if repo not in self.gated or authorization == f"Bearer {self.token}":
            return None
        status = 403 if authorization else 401
        message = (f"Access to model {repo} is restricted and you are not in the authorized list. Visit "
                   f"{self.url}/{repo} to ask for access." if authorization else
                   f"Access to model {repo} is restricted. You must have access to it and be authenticated to "
                   f"access it. Please log in.")
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
            files = self._files(repo)  # a gated repository's record and file list are public, as on the hub
            if len(parts) == 4 or parts[4] == "revision":
                info = {"id": repo, "modelId": repo, "sha": self.sha[repo], "private": False,
                        "gated": "manual" if repo in self.gated else False,
                        "cardData": card_data(self.repos[repo]),
                        "siblings": [{"rfilename": self._name(repo, p)} for p in files]}
                info.update(config_record(self.repos[repo]))
                return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
            if parts[4] == "tree":
                tree = [{"type": "file", "path": self._name(repo, p), "size": p.stat().st_size,
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
            sha256 = hashlib.sha256(data).hexdigest()
            if self.lfs and file.suffix in LFS_SUFFIXES:
                return 302, {"X-Repo-Commit": self.sha[repo], "X-Linked-Etag": f'"{sha256}"',
                             "X-Linked-Size": str(len(data)), "ETag": f'"{git_sha1(name.encode())}"',
                             "Location": f"{self.cdn_url}/cdn/{repo}/{sha256}/{name}"}, b""
            etag = git_sha1(data) if self.lfs else sha256
            return 200, {"X-Repo-Commit": self.sha[repo], "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                         "Content-Type": "application/octet-stream"}, data
        if parts[0] == "cdn" and len(parts) >= 5 and "/".join(parts[1:3]) in self.repos:  # signed: no token asked
            data = (self.repos["/".join(parts[1:3])] / "/".join(parts[4:])).read_bytes()
            return 200, {"ETag": f'"cdn-{parts[3][:8]}"', "Accept-Ranges": "bytes",
                         "Content-Type": "application/octet-stream"}, data
        return missing
