"""The slices of Kubernetes objects the bot reads, as pydantic models over the API's JSON.

The official client's own models are complete but slow to build: deserialising 1,000 pods
took 1.2 s against 0.3 s for the raw JSON (see README, Performance). Sources ask the client
for the raw body (`_preload_content=False`) and validate it into these models, which keep
only what a command reads and ignore the rest. Field names follow the API (camelCase in JSON,
snake_case here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class K8sModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ObjectMeta(K8sModel):
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None


class ListMeta(K8sModel):
    continue_: str = Field(default="", alias="continue")  # the next page's token, if any


class K8sList(K8sModel):
    """A list answer: `items` of the subclass's type and the paging token."""

    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Any] = Field(default_factory=list)  # narrowed by each subclass


class Condition(K8sModel):
    type: str
    status: str = "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


# -- Node -------------------------------------------------------------------------------------


class Taint(K8sModel):
    key: str
    value: str = ""
    effect: str = ""


class NodeSpec(K8sModel):
    unschedulable: bool = False
    taints: list[Taint] = Field(default_factory=list)
    provider_id: str = Field(default="", alias="providerID")


class NodeStatus(K8sModel):
    conditions: list[Condition] = Field(default_factory=list)
    allocatable: dict[str, str] = Field(default_factory=dict)
    capacity: dict[str, str] = Field(default_factory=dict)


class Node(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.status.conditions if c.type == kind), None)


# -- Pod --------------------------------------------------------------------------------------


class EnvVar(K8sModel):
    name: str
    value: str | None = None  # None when it comes from valueFrom (a secret, a field)


class Resources(K8sModel):
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class Container(K8sModel):
    name: str
    image: str = ""
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)

    def env_value(self, name: str) -> str | None:
        return next((e.value for e in self.env if e.name == name), None)


class ClaimRef(K8sModel):
    claim_name: str


class Volume(K8sModel):
    name: str
    persistent_volume_claim: ClaimRef | None = None


class PodSpec(K8sModel):
    node_name: str = ""
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    # Kept as raw JSON: read by a few checks only, and their schemas are deep.
    affinity: dict[str, Any] = Field(default_factory=dict)
    topology_spread_constraints: list[dict[str, Any]] = Field(default_factory=list)
    node_selector: dict[str, str] = Field(default_factory=dict)


class StateWaiting(K8sModel):
    reason: str = ""
    message: str = ""


class StateTerminated(K8sModel):
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    finished_at: datetime | None = None


class ContainerState(K8sModel):
    running: dict[str, Any] | None = None
    waiting: StateWaiting | None = None
    terminated: StateTerminated | None = None


class ContainerStatus(K8sModel):
    name: str
    ready: bool = False
    restart_count: int = 0
    image: str = ""
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState)


class PodStatus(K8sModel):
    phase: str = "Unknown"
    reason: str = ""
    message: str = ""
    conditions: list[Condition] = Field(default_factory=list)
    container_statuses: list[ContainerStatus] = Field(default_factory=list)
    init_container_statuses: list[ContainerStatus] = Field(default_factory=list)


class Pod(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)


class NodeList(K8sList):
    items: list[Node] = Field(default_factory=list)


class PodList(K8sList):
    items: list[Pod] = Field(default_factory=list)


# -- Diagnostics: events, storage, services, Karpenter ------------------------------------------


class ObjectReference(K8sModel):
    kind: str = ""
    name: str = ""
    namespace: str = ""


class EventSeries(K8sModel):
    count: int = 0
    last_observed_time: datetime | None = None


class Event(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    involved_object: ObjectReference = Field(default_factory=ObjectReference)
    reason: str = ""
    message: str = ""
    type: str = ""
    count: int | None = None
    # Events written through events.k8s.io/v1 (the scheduler) have null legacy timestamps.
    last_timestamp: datetime | None = None
    event_time: datetime | None = None
    series: EventSeries | None = None

    @property
    def seen(self) -> datetime | None:
        if self.series is not None and self.series.last_observed_time is not None:
            return self.series.last_observed_time
        return self.last_timestamp or self.event_time or self.metadata.creation_timestamp

    @property
    def times(self) -> int:
        if self.series is not None and self.series.count:
            return self.series.count
        return self.count or 1


class EventList(K8sList):
    items: list[Event] = Field(default_factory=list)


class PvcSpec(K8sModel):
    storage_class_name: str | None = None
    volume_name: str = ""


class PvcStatus(K8sModel):
    phase: str = "Unknown"


class PersistentVolumeClaim(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PvcSpec = Field(default_factory=PvcSpec)
    status: PvcStatus = Field(default_factory=PvcStatus)


class PersistentVolumeClaimList(K8sList):
    items: list[PersistentVolumeClaim] = Field(default_factory=list)


class CsiSource(K8sModel):
    driver: str = ""
    volume_handle: str = ""


class AwsEbsSource(K8sModel):
    volume_id: str = Field(default="", alias="volumeID")


class PvSpec(K8sModel):
    csi: CsiSource | None = None
    aws_elastic_block_store: AwsEbsSource | None = None


class PersistentVolume(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PvSpec = Field(default_factory=PvSpec)


class PersistentVolumeList(K8sList):
    items: list[PersistentVolume] = Field(default_factory=list)


class ServiceSpec(K8sModel):
    selector: dict[str, str] = Field(default_factory=dict)
    cluster_ip: str = Field(default="", alias="clusterIP")
    type: str = ""


class Service(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ServiceSpec = Field(default_factory=ServiceSpec)


class ServiceList(K8sList):
    items: list[Service] = Field(default_factory=list)


class EndpointAddress(K8sModel):
    ip: str = ""
    node_name: str = ""
    target_ref: ObjectReference | None = None


class EndpointSubset(K8sModel):
    addresses: list[EndpointAddress] = Field(default_factory=list)
    not_ready_addresses: list[EndpointAddress] = Field(default_factory=list)


class Endpoints(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    subsets: list[EndpointSubset] = Field(default_factory=list)


class Requirement(K8sModel):
    key: str
    operator: str = "In"
    values: list[str] = Field(default_factory=list)


class NodeClaimSpec(K8sModel):
    requirements: list[Requirement] = Field(default_factory=list)


class NodeClaimStatus(K8sModel):
    conditions: list[Condition] = Field(default_factory=list)
    node_name: str = ""
    provider_id: str = Field(default="", alias="providerID")


class NodeClaim(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeClaimSpec = Field(default_factory=NodeClaimSpec)
    status: NodeClaimStatus = Field(default_factory=NodeClaimStatus)

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.status.conditions if c.type == kind), None)


class NodeClaimList(K8sList):
    items: list[NodeClaim] = Field(default_factory=list)


class NodePoolTemplateSpec(K8sModel):
    requirements: list[Requirement] = Field(default_factory=list)


class NodePoolTemplate(K8sModel):
    spec: NodePoolTemplateSpec = Field(default_factory=NodePoolTemplateSpec)


class NodePoolSpec(K8sModel):
    template: NodePoolTemplate = Field(default_factory=NodePoolTemplate)
    limits: dict[str, str] = Field(default_factory=dict)


class NodePoolStatus(K8sModel):
    conditions: list[Condition] = Field(default_factory=list)
    resources: dict[str, str] = Field(default_factory=dict)


class NodePool(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodePoolSpec = Field(default_factory=NodePoolSpec)
    status: NodePoolStatus = Field(default_factory=NodePoolStatus)

    def requirement(self, key: str) -> list[str]:
        """The `In` values of one requirement; [] when the pool does not constrain `key`."""
        return next((r.values for r in self.spec.template.spec.requirements
                     if r.key == key and r.operator == "In"), [])


class NodePoolList(K8sList):
    items: list[NodePool] = Field(default_factory=list)
