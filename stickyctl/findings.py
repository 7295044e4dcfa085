"""Findings and the resources they name.

``Resource.id`` is the one canonical string for a resource, used wherever a finding must be named
the same way across runs and formats: `--suppress` globs, SARIF fingerprints, JUnit test names,
fixture expectations. Its form is ``kind:name`` segments joined by ``/``, outermost first, e.g.
``proxy:gw-1.istio-ingress/route_config:http.8080/virtual_host:hello.example.com:80/route:default``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields

from stickyctl.catalog import CATALOG, CheckSpec, Message, Severity


@dataclass(frozen=True)
class Resource:
    """Where a finding applies. Fields are ordered outermost first; unset ones are left out of the id."""

    file: str | None = None
    target: str | None = None
    """A live target that is not a file: an admin URL, or a pod that could not be read."""
    proxy: str | None = None
    listener: str | None = None
    filter_chain: str | None = None
    route_config: str | None = None
    virtual_host: str | None = None
    route: str | None = None
    cluster: str | None = None
    service: str | None = None
    """``namespace/name`` of a Service or ServiceEntry (``kind`` says which)."""
    object: str | None = None
    """``Kind/namespace/name`` of any other Kubernetes object."""

    def __init__(self, file: str | None = None, target: str | None = None, proxy: str | None = None,
                 listener: str | None = None, filter_chain: str | None = None, route_config: str | None = None,
                 virtual_host: str | None = None, route: str | None = None, cluster: str | None = None,
                 service: str | None = None, object: str | None = None) -> None:
        # The frozen dataclass's generated __init__ sets each field through object.__setattr__: 2.3 µs
        # for these eleven, 1.0 µs at once (timeit; one per finding, 40k findings ~50 ms, below what
        # benchmarks/ablate.py resolves). tests/test_scaling.py holds the two alike.
        self.__dict__.update(file=file, target=target, proxy=proxy, listener=listener, filter_chain=filter_chain,
                             route_config=route_config, virtual_host=virtual_host, route=route, cluster=cluster,
                             service=service, object=object)

    @functools.cached_property
    def id(self) -> str:
        # Computed once per resource: a report reads it to de-duplicate, sort, suppress and render
        # (ablate.py resource-id-cached, 26,666 findings: 1.03x-1.08x wall).
        values = self.__dict__
        return "/".join([f"{name}:{values[name]}" for name in RESOURCE_FIELDS if values[name] is not None])

    def as_dict(self) -> dict[str, str]:
        values = self.__dict__
        return {name: values[name] for name in RESOURCE_FIELDS if values[name] is not None}


RESOURCE_FIELDS = tuple(f.name for f in fields(Resource))
"""Resource's fields, outermost first."""


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    resource: Resource
    details: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Extra facts behind the message (Envoy's error details, the label value, …)."""

    @classmethod
    def of(cls, message: Message, resource: Resource) -> Finding:
        """The finding a rule reports: its code, text and details come from the catalog's message type."""
        return cls(message.code, message.text(), resource, message.details())

    @property
    def spec(self) -> CheckSpec:
        return CATALOG[self.code]

    @property
    def severity(self) -> Severity:
        return CATALOG[self.code].severity

    @property
    def resource_id(self) -> str:
        return self.resource.id

    def sort_key(self) -> tuple[str, str, str]:
        return (self.resource.proxy or "", self.code, self.resource_id)
