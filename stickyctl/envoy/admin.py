"""Read a running Envoy's config through its admin API: GET only, only what the checks need.

The admin API changes proxy state on POST (/healthcheck/fail, /drain_listeners, /quitquitquit …;
ISTIO-NOTES [seen]: GET there answers 405), so this client has no way to send anything but GET.
It asks for single resources (``config_dump?resource=…``, which returns flat ``configs[]``
entries [seen]) and never for secrets: ``SecretsConfigDump`` is neither requested nor kept.
httpx is imported here only, so offline commands never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stickyctl.envoy.loader import DumpParts, parse_document
from stickyctl.errors import InputError

if TYPE_CHECKING:
    import httpx

# (query, which presence flag it proves). Identity comes from a bootstrap mask ([seen]:
# `?resource=bootstrap` is a 400 on Envoy 1.40).
IDENTITY_QUERY = "mask=bootstrap.node"
RESOURCE_QUERIES: tuple[tuple[str, str], ...] = (
    ("resource=dynamic_listeners", "listeners"),
    ("resource=static_listeners", "listeners"),
    ("resource=dynamic_route_configs", "routes"),
    ("resource=static_route_configs", "routes"),
    ("resource=dynamic_active_clusters", "clusters"),
    ("resource=static_clusters", "clusters"),
    # `dynamic_endpoint_configs` is a 404 unless include_eds is also given ([seen]).
    ("resource=dynamic_endpoint_configs&include_eds", "endpoints"),
)
FORBIDDEN_WORDS = ("secret",)


def _redact(url: str) -> str:
    """Drop userinfo from a URL before it appears in a message."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=f"***@{host}")
    return urllib.parse.urlunsplit(parts)


class AdminClient:
    """GET-only access to one Envoy admin endpoint."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 label: str | None = None) -> None:
        import httpx

        if not base_url.startswith(("http://", "https://")):
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        self.label = label or _redact(self.base_url)
        """How messages name this target (the URL, or e.g. ``pod/istio-ingress/gw-1`` behind a relay)."""
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path_and_query: str) -> bytes:
        import httpx

        if any(w in path_and_query.lower() for w in FORBIDDEN_WORDS):
            raise ValueError(f"refusing to request {path_and_query!r}: stickyctl never reads secrets")
        url = f"{self.base_url}/{path_and_query.lstrip('/')}"
        try:
            response = self._client.get(url)
        except httpx.TimeoutException:
            raise InputError(self.label, "timed out waiting for the Envoy admin API", code="STK0001") from None
        except httpx.HTTPError as exc:
            raise InputError(self.label, f"cannot reach the Envoy admin API: {_reason(exc)}", code="STK0001") from None
        if response.status_code != 200:
            raise InputError(self.label, f"GET /{path_and_query} answered {response.status_code}", code="STK0001")
        return response.content

    def get_json(self, path_and_query: str) -> Any:
        import msgspec

        data = self.get(path_and_query)
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise InputError(self.label, f"GET /{path_and_query}: not JSON ({exc})") from None

    def fetch_configs(self) -> list[Any]:
        """The flat ``configs[]`` entries of the bootstrap node and of every resource query.

        This is what ``stickyctl dump`` records; :func:`parts_from_configs` reads it back.
        """
        configs: list[Any] = []
        for query in (IDENTITY_QUERY, *(q for q, _ in RESOURCE_QUERIES)):
            doc = self.get_json(f"config_dump?{query}")
            entries = doc.get("configs") if isinstance(doc, dict) else None
            if not isinstance(entries, list):
                raise InputError(self.label, f"GET /config_dump?{query}: no 'configs' list in the answer")
            # Masked dumps still list every section's @type; keep only the bootstrap from the mask.
            if query == IDENTITY_QUERY:
                entries = [e for e in entries if isinstance(e, dict) and "Bootstrap" in str(e.get("@type"))]
            configs.extend(entries)
        return configs

    def fetch_parts(self) -> DumpParts:
        """Bootstrap node, listeners, routes, clusters and endpoints as one ``DumpParts``."""
        return parts_from_configs(self.fetch_configs(), self.label)


def parts_from_configs(configs: list[Any], source: str) -> DumpParts:
    """``DumpParts`` from the entries :meth:`AdminClient.fetch_configs` returned.

    The admin API answered every query, so an empty section means "none", not "not checked".
    """
    parts = parse_document({"configs": configs}, source)
    parts.has_listeners = True
    parts.has_routes = True
    parts.has_clusters = True
    parts.has_endpoints = True
    return parts


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def fetch_admin(url: str, *, timeout: float = 10.0) -> DumpParts:
    with AdminClient(url, timeout=timeout) as client:
        return client.fetch_parts()
