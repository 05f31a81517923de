"""The MLflow tracking server's REST API: authenticated, each call bounded as a whole in time
(retries included) and its answer in size, and every failure a 503 that says what to do. No
mlflow import: plain HTTP through `requests`."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import GOOGLE_ID_TOKEN, TrackingAuth
from ..errors import ArtifactNotFound, ModelUnavailable

# MLflow's error codes for a name, version, alias or artifact that does not exist (an unknown
# alias is INVALID_PARAMETER_VALUE, answered with 400)
MISSING = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
RETRIED_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_SECONDS = 0.5  # before the first retry; doubled for each next one, within the deadline
MAX_JSON_BYTES = 4 * 1024 * 1024  # an answer the function reads whole (a listing, an alias)
MAX_ERROR_BYTES = 64 * 1024  # of an error answer: read, and logged
MAX_MESSAGE_SHOWN = 200  # characters of the server's own message that reach a caller
log = logging.getLogger(__name__)


class TrackingServer:
    """One tracking server: JSON GETs and streamed downloads over one pooled session per thread.

    A call (`get_json`, or a `call` block around downloads) ends `timeout` seconds after it
    starts (MLFLOW_HTTP_REQUEST_TIMEOUT), retries of resets and 429/5xx answers included: its
    sockets are cut at the deadline, so a server that answers a byte at a time cannot hold it.
    Messages give the server's own words cut short; its first 64 KiB and address go to the log."""

    def __init__(self, uri: str, auth: TrackingAuth, timeout: float, retries: int = 3):
        self.uri = uri.rstrip("/")
        parts = urlsplit(self.uri)  # what logs show: never credentials written into the URL
        self.shown = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.timeout = timeout
        self._auth = auth
        self._retries = retries
        self._local = threading.local()  # requests sessions are not documented as thread-safe

    @contextmanager
    def call(self, what: str, seconds: float | None = None) -> Iterator[None]:
        """Within the block, requests to the server end `seconds` (default: `timeout`) from now
        (an enclosing call's deadline is kept); a request cut by it raises a 503 that says so."""
        import requests

        from .tracking_session import deadline

        seconds = self.timeout if seconds is None else seconds
        with deadline(seconds) as watch:
            try:
                yield
            except (requests.RequestException, ModelUnavailable) as exc:
                if watch.passed():
                    raise self._timed_out(what, watch.seconds) from exc
                if isinstance(exc, ModelUnavailable):
                    raise
                raise self._no_answer(what, exc) from exc

    def get_json(self, path: str, params: dict[str, str] | None = None, *, what: str) -> dict[str, Any]:
        """GET `/api/2.0/<path>` as a JSON object; `what` names the thing asked for in messages."""
        import orjson

        with self.call(what):
            response = self.stream(path, params, what=what)
            with response:
                body = _read_capped(response, MAX_JSON_BYTES)
        if body is None:
            raise self._unusable(what, f"more than {MAX_JSON_BYTES // 1024 // 1024} MiB")
        try:
            answer = orjson.loads(body)  # bounded nesting depth, unlike json.loads
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise self._unusable(
                what,
                "something that is not a JSON object: is MLFLOW_TRACKING_URI the tracking server's address?",
            )
        return answer

    def stream(self, path: str, params: dict[str, str] | None = None, *, what: str):
        """GET `/api/2.0/<path>`, its body left to read; within a `call` block (its deadline
        bounds the reading too). The caller closes the response."""
        import requests

        from .tracking_session import current_deadline

        url = f"{self.uri}/api/2.0/{path}"
        watch = current_deadline()
        for attempt in range(self._retries + 1):
            remaining = watch.deadline - time.monotonic()
            try:
                response = self._session().get(
                    url,
                    params=params,
                    headers=self._headers(),
                    timeout=max(0.001, min(self.timeout, remaining)),
                    stream=True,
                )
            except requests.RequestException as exc:
                response, failure = None, exc
            else:
                if response.status_code not in RETRIED_STATUSES:
                    break
                failure = None
            pause = BACKOFF_SECONDS * 2**attempt
            if attempt == self._retries or time.monotonic() + pause >= watch.deadline:
                break
            if response is not None:
                response.close()
            time.sleep(pause)
        if response is None:
            if watch.passed():
                raise self._timed_out(what, watch.seconds) from failure
            raise self._no_answer(what, failure) from failure
        if response.ok:
            return response
        self._raise(response, what)

    def _raise(self, response, what: str):
        with response:
            text = _read_capped(response, MAX_ERROR_BYTES, cut=True).decode("utf-8", "replace")
        code, message = _error_fields(text)
        log.warning(
            "the MLflow tracking server at %s answered %s with %d",
            self.shown,
            what,
            response.status_code,
            extra={"json_fields": {"tracking": {"status": response.status_code, "answer": text}}},
        )
        shown = f" ({_cut(message)})" if message else ""
        if response.status_code in (401, 403):
            raise ModelUnavailable(
                f"the MLflow tracking server refused {what} ({response.status_code}): set "
                "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                f"TRACKING_AUTH={GOOGLE_ID_TOKEN} for a server behind Cloud Run IAM"
            )
        if response.status_code == 404 or code in MISSING:
            raise ArtifactNotFound(f"{what} does not exist on the MLflow tracking server{shown}")
        raise ModelUnavailable(
            f"the MLflow tracking server answered {what} with {response.status_code}{shown}"
        )

    def _timed_out(self, what: str, seconds: float) -> ModelUnavailable:
        log.warning("the MLflow tracking server at %s did not answer %s in %g s", self.shown, what, seconds)
        return ModelUnavailable(
            f"the MLflow tracking server timed out: {what} did not arrive within {seconds:g} s "
            "(MLFLOW_HTTP_REQUEST_TIMEOUT); it is retried on the next request"
        )

    def _no_answer(self, what: str, failure: Exception | None) -> ModelUnavailable:
        log.warning("the MLflow tracking server at %s did not answer %s: %s", self.shown, what, failure)
        return ModelUnavailable(
            f"the MLflow tracking server did not answer {what} ({type(failure).__name__}); "
            "it is retried on the next request"
        )

    def _unusable(self, what: str, answer: str) -> ModelUnavailable:
        log.warning("the MLflow tracking server at %s answered %s with %s", self.shown, what, answer)
        return ModelUnavailable(f"the MLflow tracking server answered {what} with {answer}")

    def _headers(self) -> dict[str, str]:
        auth = self._auth
        if auth.google_id_token:
            return {"Authorization": f"Bearer {_google_id_token(self.shown)}"}
        if auth.token:
            return {"Authorization": f"Bearer {auth.token}"}
        return {}

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            from .tracking_session import new_session

            auth = self._auth
            basic = auth.username and not auth.google_id_token and not auth.token
            session = self._local.session = new_session(
                (auth.username, auth.password or "") if basic else None
            )
        return session


def _read_capped(response, most: int, cut: bool = False) -> bytes | None:
    """The body, if it holds at most `most` bytes; else None (or, with `cut`, its first `most`)."""
    declared = response.headers.get("Content-Length")
    if not cut and declared and declared.isdigit() and int(declared) > most:
        return None
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > most:
            return bytes(body[:most]) if cut else None
    return bytes(body)


def _error_fields(text: str) -> tuple[str | None, str | None]:
    """MLflow's `error_code` and `message` from an error answer, which may have been cut short
    (a message's first characters are then read off the text)."""
    import orjson

    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        body = {
            key: match.group(1)
            for key in ("error_code", "message")
            if (match := re.search(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.){{0,{MAX_MESSAGE_SHOWN + 1}}})', text))
        }
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("error_code"), body.get("message")
    return (code if isinstance(code, str) else None), (message if isinstance(message, str) else None)


def _cut(text: str) -> str:
    return (
        text
        if len(text) <= MAX_MESSAGE_SHOWN
        else text[:MAX_MESSAGE_SHOWN] + "… (cut short; the function's log has more)"
    )


@functools.cache
def _id_token_credentials(audience: str):
    """Credentials that mint and refresh Google ID tokens for `audience` (the metadata server's
    on Cloud Functions; a service account key file through GOOGLE_APPLICATION_CREDENTIALS)."""
    import google.auth.transport.requests
    from google.oauth2 import id_token

    return id_token.fetch_id_token_credentials(audience, google.auth.transport.requests.Request())


def _google_id_token(audience: str) -> str:
    import google.auth.transport.requests
    from google.auth.exceptions import GoogleAuthError

    try:
        credentials = _id_token_credentials(audience)
        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
        return credentials.token
    except GoogleAuthError as exc:
        raise ModelUnavailable(
            f"could not get a Google ID token for {audience} (TRACKING_AUTH={GOOGLE_ID_TOKEN}): "
            f"{type(exc).__name__}; deployed functions get one from their service account"
        ) from exc
