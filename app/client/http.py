"""The /api/v1 REST API over urllib, for client commands: JSON in and out, signed writes,
streamed uploads, and every failure as one line (a ClientError)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from urllib import error, parse, request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.ledger import request_signature
from app.ledger.errors import LedgerError

SIGNATURE_HEADER = "MLaudit-Signature"  # as app.services.access names it (a client stays apart)
TIMEOUT = 300.0


class RecordError(LedgerError):
    """A client command cannot go on: its input is unusable, or a request failed."""


class ApiProblem(RecordError):
    """The server answered with an error status (its problem+json detail is the message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """A local file to PUT as the run's artifact `path`."""

    local: Path
    path: str
    size: int


def located(messages: Any, where: str) -> tuple[str, str]:
    """The first of marshmallow-style nested messages and where it is: `metrics[3].value`."""
    while isinstance(messages, dict | list) and messages:
        if isinstance(messages, list):
            messages = messages[0]
            continue
        key, messages = next(iter(messages.items()))
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            where += f"[{key}]"
        elif key != "_schema":
            where = f"{where}.{key}" if where else str(key)
    return where, str(messages)


def problem_text(exc: error.HTTPError) -> str:
    """`HTTP 409 Conflict: <detail> (<first field error>)` from an RFC 9457 problem body."""
    try:
        body = json.loads(exc.read())
    except (ValueError, OSError):
        body = None
    body = body if isinstance(body, dict) else {}
    text = f"HTTP {exc.code} {body.get('title') or exc.reason}"
    if body.get("detail"):
        text += f": {body['detail']}"
    if body.get("errors"):
        where, message = located(body["errors"], "")
        text += f" ({where}: {message})" if where else f" ({message})"
    return " ".join(text.split())


def reason(exc: object) -> str:
    """An exception's reason in one line (an OSError's strerror, not its errno tuple)."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def dumps(value: Any) -> str:
    """JSON text in which a Decimal is the number it spells, not a rounded binary float."""
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


class Progress:
    """One `\\r` bar over the bytes of every upload, on a TTY stream; silent without one."""

    WIDTH = 30

    def __init__(self, total: int, out: TextIO | None) -> None:
        self.total, self.out, self.done, self.shown = max(total, 1), out, 0, -1

    def advance(self, count: int) -> None:
        self.done += count
        percent = 100 * self.done // self.total
        if self.out is None or percent == self.shown:
            return
        self.shown = percent
        filled = self.WIDTH * self.done // self.total
        self.out.write(f"\ruploading [{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}% "
                       f"{self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB")
        self.out.flush()

    def finish(self) -> None:
        if self.out is not None and self.shown >= 0:
            self.out.write("\r" + " " * (self.WIDTH + 40) + "\r")
            self.out.flush()


class _Reader:
    """A file for http.client to stream from: counts progress and hashes what was sent."""

    def __init__(self, handle: BinaryIO, progress: Progress) -> None:
        self.handle, self.progress, self.hash = handle, progress, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.hash.update(chunk)
        self.progress.advance(len(chunk))
        return chunk


class RequestSigner:
    """Signs requests with the client's Ed25519 key: `MLaudit-Signature: keyid=..,t=..,sig=..`
    over the method, path and query, timestamp and body SHA-256 (docs/ledger-format.md,
    "Client request signatures"). The server records the signature in every entry the
    request makes, and refuses it if it is replayed or older than the replay window."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public_key = key.public_key().public_bytes_raw()
        self.key_id = request_signature.key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> RequestSigner:
        """A PEM (PKCS #8) Ed25519 private key, as `openssl genpkey -algorithm ed25519` writes."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise RecordError(f"cannot read the signing key {path}: {reason(exc)}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise RecordError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def header(self, method: str, url: str, body: bytes, now: float | None = None) -> str:
        """The header value for a request to `url` (its path and query as sent) with `body`."""
        parts = parse.urlsplit(url)
        target = request_signature.canonical_target(parse.unquote(parts.path), parts.query)
        timestamp = str(int(time.time() if now is None else now))
        message = request_signature.signing_input(method, target, timestamp,
                                                  request_signature.body_digest(body))
        sig = base64.b64encode(self.key.sign(message)).decode()
        return f"keyid={self.key_id},t={timestamp},sig={sig}"


class Client:
    """The /api/v1 REST API over urllib: JSON in and out, errors as one-line RecordErrors.
    With a signer, every request that writes (not GET) is signed anew."""

    def __init__(self, url: str, token: str, signer: RequestSigner | None = None) -> None:
        self.base, self.token, self.signer = url.rstrip("/"), token, signer

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else dumps(body).encode()
        headers = self.headers("application/json")
        if self.signer is not None and method != "GET":
            headers[SIGNATURE_HEADER] = self.signer.header(method, self.base + path, data or b"")
        return self._send(request.Request(self.base + path, data=data, method=method,
                                           headers=headers))

    def register_key(self) -> str:
        """Register the signer's public key for this token (nothing changes if it already
        is); returns its key id."""
        assert self.signer is not None
        public = base64.b64encode(self.signer.public_key).decode()
        registered = self._send(request.Request(
            self.base + "/api/v1/client-keys", data=dumps({"public_key": public}).encode(),
            method="POST", headers=self.headers("application/json")))
        return str(registered["key_id"])

    def upload(self, run_id: str, upload: Upload, progress: Progress) -> tuple[dict[str, Any], str]:
        """PUT the file's bytes streamed from disk; returns the response and their SHA-256."""
        url = f"{self.base}/api/v1/runs/{run_id}/artifacts/{parse.quote(upload.path)}"
        try:
            handle = upload.local.open("rb")
        except OSError as exc:
            raise RecordError(f"cannot read {upload.path}: {reason(exc)}") from exc
        with handle:
            headers = self.headers("application/octet-stream")
            headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
            reader = _Reader(handle, progress)
            sent = request.Request(url, data=reader, method="PUT", headers=headers)
            return self._send(sent), reader.hash.hexdigest()

    def headers(self, content_type: str) -> dict[str, str]:
        """The headers of every request: the bearer token, the body's type, JSON answers."""
        return {"Authorization": f"Bearer {self.token}", "Content-Type": content_type,
                "Accept": "application/json", "User-Agent": "mlaudit-record"}

    def _send(self, sent: request.Request) -> dict[str, Any]:
        try:
            with request.urlopen(sent, timeout=TIMEOUT) as response:
                payload = response.read()
        except error.HTTPError as exc:
            raise ApiProblem(exc.code, problem_text(exc)) from exc
        except error.URLError as exc:
            raise RecordError(f"cannot reach {self.base}: {reason(exc.reason)}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise RecordError(f"connection to {self.base} failed: {reason(exc)}") from exc
        try:
            result = json.loads(payload)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise RecordError(f"{self.base} answered with something other than a JSON object")
        return result
