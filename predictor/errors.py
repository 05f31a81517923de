"""Every failure the function reports, each with its HTTP status and stable error code.

The classes carry the mapping; `http.error_response` is the one place that renders them.
"""

from __future__ import annotations

from typing import Any


class PredictorError(Exception):
    """Base class: an error with an HTTP status, a stable code and caller-facing details."""

    status = 500
    code = "internal_error"
    model: str | None = None  # with MODELS, the model the request was for (set as it is answered)

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole (details and headers too, whatever a subclass's `__init__` takes): a
        load that fails in the loader process (loading/loader_process.py) fails here as it did."""
        return _restored, (type(self), self.args, self.__dict__)

    def body(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message, "details": self.details}
        if self.model is not None:
            error["model"] = self.model
        return {"error": error}


class InternalError(PredictorError):
    """A bug of ours; the caller did nothing wrong."""


class BadRequest(PredictorError):
    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    code = "invalid_json"


class InvalidInput(BadRequest):
    code = "invalid_input"


class MissingValues(InvalidInput):
    """Rows hold missing values (null, NaN, an empty cell) and the model cannot take them."""

    code = "missing_values"


class Unauthorized(PredictorError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str):
        super().__init__(message, None, {"WWW-Authenticate": 'APIKey header="X-API-Key"'})


class Forbidden(PredictorError):
    """The API key is right, but may not use this model (API_KEYS `key:model1|model2`)."""

    status = 403
    code = "forbidden"


class NotFound(PredictorError):
    status = 404
    code = "not_found"


class MethodNotAllowed(PredictorError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allowed: list[str]):
        super().__init__(message, {"allowed": allowed}, {"Allow": ", ".join(allowed)})


class RequestTimeout(PredictorError):
    """The body did not arrive in time; the connection is closed (its rest is never read)."""

    status = 408
    code = "request_timeout"

    def __init__(self, message: str, details: Any = None):
        super().__init__(message, details, {"Connection": "close"})


class PayloadTooLarge(PredictorError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(PredictorError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(PredictorError):
    """The function cannot serve predictions right now; a later try may succeed."""

    status = 503
    code = "unavailable"
    retry_after_seconds = 5

    def __init__(self, message: str, details: Any = None):
        super().__init__(message, details, {"Retry-After": str(self.retry_after_seconds)})


class ConfigurationError(ServiceUnavailable):
    """A setting is missing or malformed; predictions wait until it is fixed."""

    code = "configuration_error"
    retry_after_seconds = 60

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable} {problem}", {"variable": variable})
        self.variable = variable


class ModelUnavailable(ServiceUnavailable):
    """The model could not be fetched or loaded (not cached: the next request tries again)."""

    code = "model_unavailable"


class ArtifactNotFound(ModelUnavailable):
    code = "model_not_found"


class UnsupportedArtifact(ModelUnavailable):
    code = "model_unsupported"


class IntegrityMismatch(ModelUnavailable):
    """The model file's sha256 is not the one MODEL_SHA256 pins; it was never deserialized."""

    code = "model_integrity"


class UntrustedArtifact(ModelUnavailable):
    """A skops file holds types skops does not trust by default and SKOPS_TRUSTED_TYPES omits."""

    code = "model_untrusted"


def _restored(kind: type[PredictorError], args: tuple[Any, ...], state: dict[str, Any]) -> PredictorError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
