"""Injected failures and delays, the request log, and RBAC-style 403 answers."""

from __future__ import annotations

import re

from .recording import KubeRequest, _Delay, _Fault, _Route
from .resources import JSON
from .state import KubeState
from .status import _STATUS_DEFAULTS, ApiError, status_body


class Faults(KubeState):
    """`fail`/`delay` what matches a path; record every request as RBAC sees it."""

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        path_regex: str,
        status: int = 500,
        times: int | None = None,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
    ) -> None:
        """Answer requests whose path matches (re.search, no query string) with `status`.

        `times=None` keeps failing until `clear_faults()`. 403 gets the RBAC message for the
        request and `self.user`; 429/503 carry `Retry-After` (default 1 s for 429). Note that
        urllib3, under the kubernetes client, itself retries 429/503 that carry Retry-After.
        """
        with self._lock:
            self._faults.append(
                _Fault(re.compile(path_regex), status, times, message, retry_after, method)
            )

    def delay(self, path_regex: str, seconds: float) -> None:
        """Hold matching requests for `seconds` before answering (client timeouts, pools)."""
        with self._lock:
            self._delays.append(_Delay(re.compile(path_regex), seconds))

    def clear_faults(self) -> None:
        """Remove every injected failure and delay."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    # -- recording ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[KubeRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_clear(self) -> None:
        """Forget recorded requests (e.g. after fixture set-up calls)."""
        with self._lock:
            self._requests.clear()

    def _forbidden(self, route: _Route) -> ApiError:
        req = route.request
        if not route.is_resource:
            msg = f'forbidden: User "{self.user}" cannot {req.verb} path "{req.path}"'
            return ApiError(status_body(403, "Forbidden", msg, {}))
        where = f'in the namespace "{req.namespace}"' if req.namespace else "at the cluster scope"
        cause = (
            f'User "{self.user}" cannot {req.verb} resource "{req.rbac_resource}" '
            f'in API group "{req.api_group}" {where}'
        )
        qualified = f"{req.resource}.{req.api_group}" if req.api_group else req.resource
        head = f'{qualified} "{req.name}"' if req.name else qualified
        details: JSON = (
            {"name": req.name, "kind": req.resource} if req.name else {"kind": req.resource}
        )
        if req.api_group:
            details["group"] = req.api_group
        return ApiError(status_body(403, "Forbidden", f"{head} is forbidden: {cause}", details))

    def _fault_error(self, fault: _Fault, route: _Route) -> ApiError:
        if fault.status == 403:
            err = self._forbidden(route)
            if fault.message:
                err.body["message"] = fault.message
            return err
        reason, default = _STATUS_DEFAULTS.get(fault.status, ("", "injected fault"))
        headers: dict[str, str] = {}
        retry_after = fault.retry_after
        if retry_after is None and fault.status == 429:
            retry_after = 1
        details: JSON | None = None
        if retry_after is not None:
            headers["Retry-After"] = str(
                int(retry_after) if retry_after == int(retry_after) else retry_after
            )
            details = {"retryAfterSeconds": int(retry_after)}
        body = status_body(fault.status, reason, fault.message or default, details)
        return ApiError(body, headers)
