"""A Kubernetes API stand-in that the real `kubernetes` client can talk to.

No real API server can be installed on the dev/CI machine, and mocking the client's methods
would test our assumptions about the client instead of the client. This module therefore
serves fixture objects over HTTP, in the JSON shapes the API server sends, so that the bot's
code runs through the real `kubernetes` client: URL building, query encoding, deserialisation
into `V1Pod` & co., `ApiException` on errors.

What it imitates, because the bot depends on it:
- List responses (`kind: PodList`, `metadata.resourceVersion`, `items`, `limit`/`continue`).
- Label selectors (equality, set-based, existence) and field selectors with the per-resource
  field labels the API server supports; anything else is a 400 `Status`, as in a cluster.
- Pod logs with `container`, `previous`, `tailLines`, `sinceSeconds`, `limitBytes`,
  `timestamps`, and the real 400 errors (no previous container, container required...).
- `Status` bodies for 401/403/404/..., with the RBAC-style 403 message.
- Watches (`watch=true`) as a stream of JSON lines.
- `pods/{name}/exec` upgraded to WebSocket (RFC 6455, subprotocol `v4.channel.k8s.io`):
  channel-prefixed stdout/stderr messages, the `Status` on channel 3, then a close frame.
  What a command prints comes from `set_exec`. Errors before the upgrade are plain HTTP
  `Status` answers (404 pod, 400 container/command), as the API server sends them.

What it records: every request as a `KubeRequest` with the RBAC verb, API group, resource and
subresource, so a test can check each call against the ClusterRole in `manifests/`.

Builders (`node`, `pod`, `event`, `pvc`, `service`, `endpoints`, `namespace`, `nodeclaim`,
`nodepool`) are module-level functions that return plain dicts, realistic enough to be
deserialised by the client with client-side validation on.

The package, one idea per module: `resources` (the resource table), `status` (Status bodies),
`selectors`, `recording` (`KubeRequest`), `state` (what the parts share), `store` (objects,
logs, exec handlers), `faults`, `routes` (request handling), `reads` (get/list/watch),
`podlogs`, `exec` (pods/exec over WebSocket), `discovery`, `server` (`KubeStandin`, on the
shared `tests.harness.loopback` base), and the builders in `meta`, `nodes`, `pods`, `objects`
and `karpenter`. Everything public is re-exported here, so
`from tests.harness.kube import KubeStandin, node, pod` works as before.
"""

from __future__ import annotations

from .exec import (
    EXEC_PROTOCOLS,
    ExecHandler,
    exec_internal_error,
    exec_status,
    ws_accept,
    ws_frame,
)
from .karpenter import nodeclaim, nodepool
from .meta import INSTANCE_TYPES, InstanceShape
from .nodes import node
from .objects import endpoints, event, namespace, pvc, service
from .pods import pod
from .recording import KubeRequest
from .resources import DEFAULT_USER, JSON, RESOURCE_TYPES, ResourceType, iter_kinds
from .selectors import (
    FieldRequirement,
    LabelRequirement,
    parse_field_selector,
    parse_label_selector,
)
from .server import KubeStandin
from .status import ApiError, status_body
from .util import micro_ts, ts

__all__ = [
    "DEFAULT_USER",
    "EXEC_PROTOCOLS",
    "INSTANCE_TYPES",
    "JSON",
    "RESOURCE_TYPES",
    "ApiError",
    "ExecHandler",
    "FieldRequirement",
    "InstanceShape",
    "KubeRequest",
    "KubeStandin",
    "LabelRequirement",
    "ResourceType",
    "endpoints",
    "event",
    "exec_internal_error",
    "exec_status",
    "iter_kinds",
    "micro_ts",
    "namespace",
    "node",
    "nodeclaim",
    "nodepool",
    "parse_field_selector",
    "parse_label_selector",
    "pod",
    "pvc",
    "service",
    "status_body",
    "ts",
    "ws_accept",
    "ws_frame",
]
