"""AWS through boto3: one place for endpoint, region, timeouts, retries and error wording."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from bot.config import AwsSettings
from bot.errors import Forbidden, NotFound, SourceError, Timeout, Unavailable

T = TypeVar("T")

_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException",
              "RequestLimitExceeded", "LimitExceededException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
           "UnrecognizedClientException"}


class AwsClients:
    """boto3 clients by service name, built once. IRSA/instance credentials in a cluster;
    `aws.endpoint_url` points every client elsewhere (moto in tests)."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        self._config = Config(
            region_name=settings.region,
            connect_timeout=min(3.0, settings.timeout_s),
            read_timeout=settings.timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # Cost Explorer is a global service served from us-east-1.
                region = "us-east-1" if service == "ce" else self.settings.region
                self._clients[service] = self._session.client(  # type: ignore[call-overload]
                    service, region_name=region, endpoint_url=self.settings.endpoint_url,
                    config=self._config,
                )
            return self._clients[service]


def aws_call(source: str, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """Call boto3 and turn its failures into a SourceError a person can act on."""
    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _THROTTLED:
            raise Unavailable(source, f"{what}: throttled by AWS ({code}); try again") from None
        if code in _DENIED:
            raise Forbidden(source, f"{what}: access denied ({code}); check the IAM role "
                                    "policy") from None
        message = str(exc.response.get("Error", {}).get("Message", ""))[:160]
        kind = NotFound if code.endswith(("NotFoundException", "NotFound")) else SourceError
        raise kind(source, f"{what}: {code} {message}".strip()) from None
    except NoCredentialsError:
        raise Forbidden(source, f"{what}: no AWS credentials (IRSA or env)") from None
    except (ConnectTimeoutError, ReadTimeoutError):
        raise Timeout(source, f"{what}: timed out") from None
    except EndpointConnectionError:
        raise Unavailable(source, f"{what}: cannot connect to AWS") from None
    except BotoCoreError as exc:
        raise Unavailable(source, f"{what}: {type(exc).__name__}") from None


def instance_type_offerings(aws: AwsClients, instance_types: list[str]) -> dict[str, set[str]]:
    """Which availability zones of the configured region offer each instance type.

    A type missing from the answer is offered in no AZ of the region. Paginated: a region
    has a few hundred types x AZs, and the API pages at 1,000.
    """
    ec2 = aws.client("ec2")
    offered: dict[str, set[str]] = {t: set() for t in instance_types}
    what = "ec2 describe-instance-type-offerings"
    kwargs: dict[str, Any] = {
        "LocationType": "availability-zone",
        "Filters": [{"Name": "instance-type", "Values": list(instance_types)}],
    }
    while True:
        page = aws_call("aws", what, ec2.describe_instance_type_offerings, **kwargs)
        for offer in page.get("InstanceTypeOfferings", []):
            offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
        token = page.get("NextToken")
        if not token:
            return offered
        kwargs["NextToken"] = token
