"""What the weekly checklist needs to know about the workload: which images run, which EBS
volumes hold its data, and what AWS says about them (ECR scan findings, EBS snapshots).

Kubernetes reads go through `KubernetesSource` (raw JSON into `k8s_models`) and AWS reads
through `aws_call`, so every failure arrives as a `SourceError` with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bot.errors import SourceError
from bot.sources.aws import AwsClients, aws_call
from bot.sources.k8s_models import PersistentVolume
from bot.sources.kubernetes import KubernetesSource

ECR_SOURCE = "ecr"
EBS_SOURCE = "ebs"

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:tag][@digest]
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
# Per-image answers that are facts about that image, not failures of the source.
_IMAGE_MISSING = {"ScanNotFoundException": "no scan yet",
                  "ImageNotFoundException": "image not found in ECR",
                  "RepositoryNotFoundException": "repository not found in ECR"}


@dataclass(frozen=True, slots=True)
class EcrRef:
    image: str
    registry_id: str
    region: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def image_id(self) -> dict[str, str]:
        # A digest names exactly what runs; a tag may have moved since the pod started.
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}


def parse_ecr_image(image: str) -> EcrRef | None:
    """The ECR coordinates of an image reference, or None when it is not an ECR image."""
    m = _ECR_URI.match(image.strip())
    if m is None:
        return None
    return EcrRef(image=image, registry_id=m["account"], region=m["region"],
                  repository=m["repo"], tag=m["tag"], digest=m["digest"])


@dataclass(frozen=True, slots=True)
class ScanResult:
    image: str
    critical: int = 0
    high: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    # Empty when the findings are complete; otherwise why they are not ("not in ECR", …).
    not_scanned: str = ""


@dataclass(frozen=True, slots=True)
class ClaimVolume:
    """A PVC and the EBS volume behind it; `volume_id` is None with the reason in `note`."""

    claim: str
    pv: str = ""
    volume_id: str | None = None
    note: str = ""


# -- Kubernetes ---------------------------------------------------------------------------------


def running_images(kube: KubernetesSource, namespace: str) -> dict[str, list[str]]:
    """Image -> names of the Running pods in `namespace` that run it (init containers too)."""
    images: dict[str, list[str]] = {}
    for pod in kube.pods(namespace):
        if pod.status.phase != "Running":
            continue
        for container in [*pod.spec.init_containers, *pod.spec.containers]:
            if container.image:
                names = images.setdefault(container.image, [])
                if pod.metadata.name not in names:
                    names.append(pod.metadata.name)
    return images


def _ebs_volume_id(pv: PersistentVolume) -> tuple[str | None, str]:
    spec = pv.spec
    if spec.csi is not None:
        if spec.csi.driver != "ebs.csi.aws.com":
            return None, f"not EBS (CSI driver {spec.csi.driver})"
        return spec.csi.volume_handle, ""
    if spec.aws_elastic_block_store is not None:
        # The in-tree plugin also accepts aws://<zone>/vol-…
        return spec.aws_elastic_block_store.volume_id.rsplit("/", 1)[-1], ""
    return None, "not an EBS volume"


def claim_volumes(kube: KubernetesSource, namespace: str) -> list[ClaimVolume]:
    """Every PVC in `namespace`, resolved PVC -> PV -> EBS volume id (two list calls)."""
    claims = kube.pvcs(namespace)
    if not claims:
        return []
    pvs = {pv.metadata.name: pv for pv in kube.pvs()}
    out: list[ClaimVolume] = []
    for claim in sorted(claims, key=lambda c: c.metadata.name):
        name, pv_name, phase = claim.metadata.name, claim.spec.volume_name, claim.status.phase
        if phase != "Bound" or not pv_name:
            out.append(ClaimVolume(claim=name, note=f"claim is {phase}, no volume"))
            continue
        pv = pvs.get(pv_name)
        if pv is None:
            out.append(ClaimVolume(claim=name, pv=pv_name, note=f"PV {pv_name} not found"))
            continue
        volume_id, note = _ebs_volume_id(pv)
        out.append(ClaimVolume(claim=name, pv=pv_name, volume_id=volume_id, note=note))
    return out


# -- AWS ----------------------------------------------------------------------------------------


def scan_findings(aws: AwsClients, image: str, registry_id: str | None = None) -> ScanResult:
    """CRITICAL/HIGH counts of the latest ECR scan of `image`.

    Images outside ECR, in another region, or (when `registry_id` is set) in another
    registry come back with `not_scanned` set. Missing scans/images are per-image facts;
    denial, throttling and connection failures raise SourceError for the whole section.
    """
    ref = parse_ecr_image(image)
    if ref is None:
        return ScanResult(image=image, not_scanned="not in ECR")
    if ref.region != aws.settings.region:
        return ScanResult(image=image, not_scanned=f"ECR in {ref.region}, bot reads "
                                                   f"{aws.settings.region}")
    if registry_id and ref.registry_id != registry_id:
        return ScanResult(image=image, not_scanned=f"registry {ref.registry_id} is not the "
                                                   f"configured {registry_id}")
    client = aws.client("ecr")

    def describe(**kwargs: Any) -> dict[str, Any] | str:
        try:
            return dict(client.describe_image_scan_findings(**kwargs))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _IMAGE_MISSING:
                return _IMAGE_MISSING[code]
            raise

    answer = aws_call(ECR_SOURCE, f"describe_image_scan_findings {ref.repository}", describe,
                      registryId=ref.registry_id, repositoryName=ref.repository,
                      imageId=ref.image_id, maxResults=1)
    if isinstance(answer, str):
        return ScanResult(image=image, not_scanned=answer)
    status = str((answer.get("imageScanStatus") or {}).get("status", ""))
    if status and status not in ("COMPLETE", "ACTIVE"):
        return ScanResult(image=image, not_scanned=f"scan {status.lower()}")
    raw = (answer.get("imageScanFindings") or {}).get("findingSeverityCounts") or {}
    counts = {str(k).upper(): int(v) for k, v in raw.items()}
    return ScanResult(image=image, critical=counts.get("CRITICAL", 0),
                      high=counts.get("HIGH", 0), counts=counts)


def newest_snapshots(aws: AwsClients, volume_ids: Iterable[str]) -> dict[str, datetime | None]:
    """Volume id -> StartTime of its newest own snapshot (None when it has none)."""
    wanted = sorted(set(volume_ids))
    out: dict[str, datetime | None] = dict.fromkeys(wanted)
    if not wanted:
        return out
    client = aws.client("ec2")
    for i in range(0, len(wanted), 200):  # a filter takes at most 200 values
        chunk = wanted[i:i + 200]
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "Filters": [{"Name": "volume-id", "Values": chunk}],
                "OwnerIds": ["self"],
            }
            if token:
                kwargs["NextToken"] = token
            page: dict[str, Any] = aws_call(EBS_SOURCE, "describe_snapshots",
                                            client.describe_snapshots, **kwargs)
            for snap in page.get("Snapshots", []):
                vol, started = snap.get("VolumeId"), snap.get("StartTime")
                if vol not in out or not isinstance(started, datetime):
                    continue
                if snap.get("State", "completed") != "completed":
                    continue  # a pending or failed snapshot is not a backup yet
                current = out[vol]
                if current is None or started > current:
                    out[vol] = started
            token = page.get("NextToken")
            if not token:
                break
    return out


__all__ = ["ClaimVolume", "EcrRef", "ScanResult", "SourceError", "claim_volumes",
           "newest_snapshots", "parse_ecr_image", "running_images", "scan_findings"]
