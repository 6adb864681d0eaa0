"""`metav1.Status` failure bodies and the exception that answers with one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .resources import JSON


def status_body(
    code: int, reason: str, message: str, details: JSON | None = None, **extra: Any
) -> JSON:
    """A `metav1.Status` failure body exactly as the API server sends it."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    body.update(extra)
    return body


class ApiError(Exception):
    """Raised inside the stand-in to answer with a `Status` body."""

    def __init__(self, body: JSON, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.body = body
        self.headers = dict(headers or {})

    @property
    def code(self) -> int:
        return int(self.body["code"])


def _bad_request(message: str) -> ApiError:
    return ApiError(status_body(400, "BadRequest", message))



_STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: (
        "Conflict",
        "the object has been modified; please apply your changes to the latest "
        "version and try again",
    ),
    410: ("Expired", "too old resource version"),
    422: ("Invalid", "the request is invalid"),
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "the server was unable to return a response in the time allotted, but may "
        "still be processing the request",
    ),
}
