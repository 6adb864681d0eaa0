"""The object store: add/remove/get fixture objects, container logs, exec handlers."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from .exec import ExecHandler
from .recording import _LogEntry
from .resources import JSON, ResourceType
from .state import KubeState
from .util import _now, ts


class ObjectStore(KubeState):
    """Fixture objects (with resourceVersion and a journal for watches), logs, exec."""

    # -- resource types -------------------------------------------------------------------

    def register_resource(self, rtype: ResourceType) -> None:
        """Serve one more resource (e.g. another CRD) through the same generic routes."""
        with self._lock:
            self._types[(rtype.api_version, rtype.plural)] = rtype
            self._by_kind[(rtype.api_version, rtype.kind)] = rtype

    # -- objects ----------------------------------------------------------------------------

    def _key_of(self, obj: Mapping[str, Any]) -> tuple[tuple[str, str, str, str], ResourceType]:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        meta = obj.get("metadata") or {}
        rtype = self._by_kind.get((str(api_version), str(kind)))
        if rtype is None:
            known = sorted(f"{a} {k}" for a, k in self._by_kind)
            raise ValueError(f"unknown apiVersion/kind {api_version}/{kind}; known: {known}")
        if not meta.get("name"):
            raise ValueError(f"{kind} without metadata.name")
        ns = str(meta.get("namespace") or ("default" if rtype.namespaced else ""))
        if not rtype.namespaced:
            ns = ""
        return (rtype.api_version, rtype.kind, ns, str(meta["name"])), rtype

    def add(self, obj: Mapping[str, Any]) -> JSON:
        """Store (or replace) an object; fills uid, resourceVersion and creationTimestamp.

        Returns the stored copy. Replacing an object is seen by watchers as MODIFIED.
        """
        with self._lock:
            key, rtype = self._key_of(obj)
            stored = copy.deepcopy(dict(obj))
            meta = stored.setdefault("metadata", {})
            if rtype.namespaced:
                meta["namespace"] = key[2]
            else:
                meta.pop("namespace", None)
            meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(key))))
            meta.setdefault("creationTimestamp", ts())
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            kind = "MODIFIED" if key in self._objects else "ADDED"
            self._objects[key] = stored
            self._journal.append((self._rv, kind, stored))
            self._changed.notify_all()
            return copy.deepcopy(stored)

    def add_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """`add` each object, for fixtures built in a comprehension."""
        for obj in objs:
            self.add(obj)

    def remove(self, obj: Mapping[str, Any]) -> None:
        """Delete an object (matched by apiVersion/kind/namespace/name); watchers see DELETED."""
        with self._lock:
            key, _ = self._key_of(obj)
            stored = self._objects.pop(key, None)
            if stored is None:
                raise KeyError(key)
            self._rv += 1
            gone = copy.deepcopy(stored)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._journal.append((self._rv, "DELETED", gone))
            self._changed.notify_all()

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> JSON | None:
        """A copy of a stored object, or None."""
        with self._lock:
            rtype = self._by_kind.get((api_version, kind))
            ns = namespace if rtype is None or rtype.namespaced else ""
            obj = self._objects.get((api_version, kind, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def clear(self) -> None:
        """Forget all objects and logs (faults and recorded requests stay)."""
        with self._lock:
            self._objects.clear()
            self._logs.clear()

    # -- logs -------------------------------------------------------------------------------

    def set_log(
        self,
        namespace: str,
        pod: str,
        text: str,
        container: str | None = None,
        previous: bool = False,
        age_s: float = 0.0,
    ) -> None:
        """Set a container's log. `container=None` applies to whichever container is asked.

        Every line is stamped `age_s` seconds ago; `sinceSeconds`/`sinceTime` filter on
        those stamps, and `append_log` adds newer or older lines.
        """
        with self._lock:
            self._logs[(namespace, pod, container, previous)] = []
        self.append_log(namespace, pod, text, container=container, previous=previous, age_s=age_s)

    def append_log(
        self,
        namespace: str,
        pod: str,
        text: str,
        container: str | None = None,
        previous: bool = False,
        age_s: float = 0.0,
    ) -> None:
        """Append lines to a container's log, stamped `age_s` seconds ago."""
        at = _now() - timedelta(seconds=age_s)
        with self._lock:
            entries = self._logs.setdefault((namespace, pod, container, previous), [])
            entries.extend(_LogEntry(at, line) for line in text.splitlines())

    # -- exec --------------------------------------------------------------------------------

    def set_exec(self, namespace: str, pod: str, handler: ExecHandler) -> None:
        """What `pods/exec` runs in `pod`: `handler(container, command)` returns
        `(stdout, stderr, exit_code)`. It runs in the server thread, so a handler that blocks
        is a stuck command (the client's timeout is then what ends the call). Without a
        handler every command fails as a missing binary does in a real container.
        """
        with self._lock:
            self._exec_handlers[(namespace, pod)] = handler
