"""The MLflow tracking server's REST API: authenticated, bounded in time, retried, and every
failure a 503 that says what to do. No mlflow import: plain HTTP through `requests`."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ArtifactNotFound, ModelUnavailable

# MLflow's error codes for a name, version, alias or artifact that does not exist (an unknown
# alias is INVALID_PARAMETER_VALUE, answered with 400)
MISSING = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
RETRIED_STATUSES = (429, 500, 502, 503, 504)
GOOGLE_ID_TOKEN = "google-id-token"


@dataclass(frozen=True)
class TrackingAuth:
    """How to authenticate, from MLflow's own variables (or a Google ID token for Cloud Run)."""

    token: str | None = field(default=None, repr=False)  # MLFLOW_TRACKING_TOKEN: bearer
    username: str | None = None  # MLFLOW_TRACKING_USERNAME, with MLFLOW_TRACKING_PASSWORD: basic
    password: str | None = field(default=None, repr=False)
    google_id_token: bool = False  # TRACKING_AUTH=google-id-token: for the tracking URL's audience


class TrackingServer:
    """One tracking server: JSON GETs and streamed downloads over one pooled session."""

    def __init__(self, uri: str, auth: TrackingAuth, timeout: float, retries: int = 3):
        self.uri = uri.rstrip("/")
        parts = urlsplit(self.uri)  # what messages show: never credentials written into the URL
        self.shown = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.timeout = timeout
        self._auth = auth
        self._retries = retries
        self._local = threading.local()  # requests sessions are not documented as thread-safe

    def get_json(self, path: str, params: dict[str, str] | None = None, *, what: str) -> dict[str, Any]:
        """GET `/api/2.0/<path>` as JSON; `what` names the thing asked for in error messages."""
        response = self._get(path, params, what=what, stream=False)
        try:
            return response.json()
        except ValueError as exc:
            raise ModelUnavailable(
                f"the MLflow tracking server at {self.shown} answered {what} with something that is "
                "not JSON: is MLFLOW_TRACKING_URI the tracking server's address?"
            ) from exc

    def stream(self, path: str, *, what: str):
        """GET `/api/2.0/<path>` for streaming; the caller closes the response."""
        return self._get(path, None, what=what, stream=True)

    def _get(self, path: str, params: dict[str, str] | None, *, what: str, stream: bool):
        import requests

        url = f"{self.uri}/api/2.0/{path}"
        try:
            response = self._session().get(
                url, params=params, headers=self._headers(), timeout=self.timeout, stream=stream
            )
        except requests.RequestException as exc:
            raise ModelUnavailable(
                f"the MLflow tracking server at {self.shown} did not answer {what} "
                f"({type(exc).__name__}); it is retried on the next request"
            ) from exc
        if response.ok:
            return response
        self._raise(response, what)

    def _raise(self, response, what: str):
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("error_code") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        response.close()
        if response.status_code in (401, 403):
            raise ModelUnavailable(
                f"the MLflow tracking server at {self.shown} refused {what} ({response.status_code}): set "
                "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                f"TRACKING_AUTH={GOOGLE_ID_TOKEN} for a server behind Cloud Run IAM"
            )
        if response.status_code == 404 or code in MISSING:
            raise ArtifactNotFound(f"{what} does not exist on the MLflow tracking server ({message})")
        raise ModelUnavailable(
            f"the MLflow tracking server at {self.shown} answered {what} with {response.status_code}"
            + (f" ({message})" if message else "")
        )

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
            session = self._local.session = _new_session(self._retries, self._auth)
        return session


def _new_session(retries: int, auth: TrackingAuth):
    """A session whose adapter retries connection failures and 429/5xx answers with backoff
    (urllib3's Retry), so one blip at the tracking server costs a moment, not a request."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=retries,
        backoff_factor=0.5,
        status_forcelist=RETRIED_STATUSES,
        allowed_methods={"GET"},
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    if auth.username and not auth.google_id_token and not auth.token:
        session.auth = (auth.username, auth.password or "")
    return session


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
