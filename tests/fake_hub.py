"""A Hugging Face Hub on 127.0.0.1 for offline tests: enough of its HTTP API for huggingface_hub's own client
(``create_repo``, ``create_commit``/``upload_folder``, ``repo_info``, ``list_repo_tree``, ``get_paths_info``,
``hf_hub_download``/``snapshot_download``, ``HfFileSystem`` range reads) and hence for ``datasets`` streaming.

Files are committed inline (the preupload answer is "regular" for every file, so no LFS or Xet transfer is
involved); each commit is a full snapshot under a new 40-hex id, and any earlier commit stays readable.
Point a client at it with ``HF_ENDPOINT`` (read by huggingface_hub at import: set it before a subprocess starts)
or with ``HfApi(endpoint=...)``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

REPO_TYPES = {"datasets": "dataset", "models": "model", "spaces": "space"}


@dataclass
class Repo:
    """One repository: its commits (oldest first), each a full snapshot ``path -> bytes``."""

    repo_type: str
    repo_id: str
    private: bool
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    def snapshot(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        if not self.commits:
            return ("0" * 40, {}) if revision in ("main", "HEAD", "") else None
        if revision in ("main", "HEAD", ""):
            return self.commits[-1]
        for sha, files in self.commits:
            if sha == revision:
                return sha, files
        return None

    def commit(self, files: dict[str, bytes], deleted: set[str]) -> str:
        current = dict(self.commits[-1][1]) if self.commits else {}
        for path in deleted:
            current.pop(path, None)
        current.update(files)
        sha = hashlib.sha1(f"{self.repo_id}:{len(self.commits)}".encode()).hexdigest()
        self.commits.append((sha, current))
        return sha


class FakeHub:
    """The server's state, shared with the test: ``repos`` and every request line in ``requests``."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[str] = []
        self.authorizations: list[str] = []  # the Authorization header of each request that had one
        self.lock = threading.Lock()
        self.url = ""

    def add_repo(self, repo_type: str, repo_id: str, files: dict[str, bytes], *, private: bool = False) -> str:
        """Create ``repo_id`` with one commit holding ``files``; returns the commit id."""
        repo = self.repos.setdefault((repo_type, repo_id), Repo(repo_type, repo_id, private))
        return repo.commit(dict(files), set())

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos.get((repo_type, repo_id))
        found = repo.snapshot(revision) if repo else None
        return dict(found[1]) if found else {}


class _Handler(http.server.BaseHTTPRequestHandler):
    hub: FakeHub  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    # ---- plumbing ----
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, head=False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, data, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _error(self, status: int, code: str, message: str, *, head: bool = False) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message}, head=head)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _record(self) -> tuple[list[str], dict[str, list[str]]]:
        parsed = urllib.parse.urlsplit(self.path)
        with self.hub.lock:
            self.hub.requests.append(f"{self.command} {self.path}")
            if self.headers.get("Authorization"):
                self.hub.authorizations.append(self.headers["Authorization"])
        parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/")]
        return parts, urllib.parse.parse_qs(parsed.query)

    def _repo(self, kind: str, org: str, name: str) -> Repo | None:
        return self.hub.repos.get((REPO_TYPES.get(kind, kind), f"{org}/{name}"))

    # ---- verbs ----
    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        parts, _ = self._record()
        self._resolve(parts, head=True)

    def do_GET(self) -> None:  # noqa: N802
        parts, query = self._record()
        if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in REPO_TYPES:
            repo = self._repo(parts[1], parts[2], parts[3])
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {parts[2]}/{parts[3]} not found")
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                return self._info(repo, "/".join(rest[1:]) or "main")
            if rest[0] == "tree":
                revision, path = (rest[1] if len(rest) > 1 else "main"), "/".join(rest[2:])
                return self._tree(repo, revision, path, recursive=query.get("recursive", ["false"])[0] == "true")
            if rest[0] == "refs":
                return self._json(
                    {
                        "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.commits[-1][0]}],
                        "tags": [],
                        "converts": [],
                    }
                )
        if parts[:2] == ["api", "whoami-v2"]:
            return self._json({"name": "tester", "type": "user", "auth": {"accessToken": {"role": "write"}}})
        self._resolve(parts, head=False)

    def do_POST(self) -> None:  # noqa: N802
        parts, _ = self._record()
        body = self._body()
        if parts == ["api", "repos", "create"]:
            return self._create(json.loads(body))
        if parts == ["api", "validate-yaml"]:
            return self._json({"errors": [], "warnings": []})
        if parts[:1] == ["api"] and len(parts) >= 6 and parts[1] in REPO_TYPES:
            repo = self._repo(parts[1], parts[2], parts[3])
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {parts[2]}/{parts[3]} not found")
            action, revision = parts[4], "/".join(parts[5:])
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._json(
                    {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
                )
            if action == "commit":
                return self._commit(repo, body)
            if action == "paths-info":
                return self._paths_info(repo, revision, body)
        self._error(404, "NotFound", f"no route for POST {self.path}")

    # ---- the API ----
    def _create(self, payload: dict) -> None:
        kind = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
        private = payload.get("visibility", "public") != "public" or bool(payload.get("private"))
        prefix = "" if kind == "model" else f"{kind}s/"
        answer = {"url": f"{self.hub.url}/{prefix}{repo_id}", "name": repo_id}
        with self.hub.lock:
            exists = (kind, repo_id) in self.hub.repos
            if not exists:
                self.hub.repos[(kind, repo_id)] = Repo(kind, repo_id, private)
        if exists:  # the Hub answers 409 with the repository's URL, which create_repo(exist_ok=True) reads
            return self._send(
                409,
                json.dumps({**answer, "error": "You already created this repo"}).encode(),
                {"Content-Type": "application/json", "X-Error-Message": "You already created this repo"},
            )
        self._json(answer)

    def _info(self, repo: Repo, revision: str) -> None:
        found = repo.snapshot(urllib.parse.unquote(revision))
        if found is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        sha, files = found
        self._json(
            {
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": sha,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": path, "size": len(data)} for path, data in sorted(files.items())],
            }
        )

    def _entries(self, files: dict[str, bytes], prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        entries, folders = [], set()
        for path, data in sorted(files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            pieces = rest.split("/")
            for depth in range(1, len(pieces)):
                folder = "/".join(([prefix] if prefix else []) + pieces[:depth])
                if folder not in folders and (recursive or depth == 1):
                    folders.add(folder)
                    entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
            if recursive or len(pieces) == 1:
                entries.append(_file_entry(path, data))
        return entries

    def _tree(self, repo: Repo, revision: str, path: str, *, recursive: bool) -> None:
        found = repo.snapshot(urllib.parse.unquote(revision))
        if found is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        entries = self._entries(found[1], path, recursive)
        if path and not entries:
            return self._error(404, "EntryNotFound", f"{path} does not exist")
        self._json(entries)

    def _paths_info(self, repo: Repo, revision: str, body: bytes) -> None:
        found = repo.snapshot(urllib.parse.unquote(revision))
        if found is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body).get("paths", [])
        else:
            paths = urllib.parse.parse_qs(body.decode()).get("paths", [])
        files = found[1]
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(_file_entry(path, files[path]))
            elif any(p.startswith(path + "/") for p in files) or path == "":
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": path})
        self._json(out)

    def _commit(self, repo: Repo, body: bytes) -> None:
        added, deleted = {}, set()
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "file":
                added[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.add(item["value"]["path"])
            elif item["key"] != "header":
                return self._error(400, "Unsupported", f"the fake Hub does not take {item['key']} operations")
        with self.hub.lock:
            sha = repo.commit(added, deleted)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._json(
            {"success": True, "commitOid": sha, "commitUrl": f"{self.hub.url}/{prefix}{repo.repo_id}/commit/{sha}"}
        )

    def _resolve(self, parts: list[str], *, head: bool) -> None:
        if parts and parts[0] in REPO_TYPES:
            kind, parts = parts[0], parts[1:]
        else:
            kind = "models"
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, "NotFound", f"no route for {self.command} {self.path}", head=head)
        repo = self._repo(kind, parts[0], parts[1])
        found = repo.snapshot(parts[3]) if repo else None
        if found is None:
            return self._error(404, "RepoNotFound" if repo is None else "RevisionNotFound", "not found", head=head)
        sha, files = found
        path = "/".join(parts[4:])
        data = files.get(path)
        if data is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist", head=head)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{_oid(data)}"', "Accept-Ranges": "bytes"}
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start_text, _, end_text = wanted[len("bytes=") :].partition("-")
            start = int(start_text) if start_text else max(0, len(data) - int(end_text))
            end = min(int(end_text), len(data) - 1) if end_text and start_text else len(data) - 1
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head=head)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start : end + 1], headers, head=head)
        self._send(200, data, headers, head=head)


def _oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _file_entry(path: str, data: bytes) -> dict:
    return {"type": "file", "oid": _oid(data), "size": len(data), "path": path}


@contextmanager
def serve() -> Iterator[FakeHub]:
    """A fake Hub on a free loopback port for the duration of the block; ``hub.url`` is its endpoint."""
    hub = FakeHub()
    handler = type("Handler", (_Handler,), {"hub": hub})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        httpd.shutdown()
        httpd.server_close()
