"""Read a running Envoy's config through its admin API: GET only, only what the checks need.

The admin API changes proxy state on POST (/healthcheck/fail, /drain_listeners, /quitquitquit …;
ISTIO-NOTES [seen]: GET there answers 405), so this client has no way to send anything but GET.
It asks for single resources (``config_dump?resource=…``, which returns flat ``configs[]``
entries [seen]) and never for secrets: ``SecretsConfigDump`` is neither requested nor kept, and
inline TLS material inside the resources it does read (``transport_socket``) is redacted before
anything keeps it. Every request must be answered in full within ``timeout`` seconds (a server
that dribbles bytes cannot hold a target longer), with at most ``max_input_bytes()`` bytes;
redirects are never followed, and no proxy from the environment is used.
httpx is imported here only, so offline commands never pay for it.
"""

from __future__ import annotations

import math
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from stickyctl.envoy.loader import DumpParts, max_input_bytes, parse_document
from stickyctl.errors import InputError, UsageError, check_seconds
from stickyctl.sanitize import redact_url
from stickyctl.urls import UrlError, parse_http_url

if TYPE_CHECKING:
    import httpx

# (query, which presence flag it proves). Identity comes from a bootstrap mask ([seen]:
# `?resource=bootstrap` is a 400 on Envoy 1.40): only the node's parts identity reads. The whole node
# also lists every extension compiled into Envoy, 80 KB that Envoy renders and stickyctl would decode
# for every pod of a fleet ([seen] 1.40: 106 KB and 3.8 ms of Envoy's CPU, against 2 KB and 0.8 ms).
IDENTITY_QUERY = "mask=bootstrap.node.id,bootstrap.node.metadata,bootstrap.node.user_agent_build_version"
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
REDACTED = "[redacted by stickyctl]"
_TLS_KEYS = frozenset({"transport_socket", "transport_socket_matches", "transportSocket", "transportSocketMatches"})
_INLINE_KEYS = frozenset({"inline_bytes", "inline_string", "inlineBytes", "inlineString"})


def admin_base_url(url: str, option: str = "--admin-url") -> str:
    """``url`` as the base of admin requests (``http://`` added when no scheme is given), or a usage
    error naming what is wrong with it (never an exception from deeper down)."""
    text = url.strip()
    shown = redact_url(text)
    try:
        parsed = parse_http_url(text, add_scheme=True, purpose=" for an admin API")
    except UrlError as exc:
        raise UsageError(f"{option} {shown!r}: {exc}") from None
    if parsed.parts.query or parsed.parts.fragment:
        raise UsageError(f"{option} {shown!r}: give the admin API's base URL, without '?' or '#'")
    return parsed.text.rstrip("/")


def redact_tls(value: Any, inside_tls: bool = False) -> Any:
    """``value`` with inline data (certificates, keys) inside ``transport_socket`` blocks replaced,
    in place. The checks never read TLS settings; Envoy already redacts private keys ([redacted]),
    but certificate chains and other inline data would otherwise be copied into snapshots."""
    if isinstance(value, dict):
        for key, item in value.items():
            if inside_tls and key in _INLINE_KEYS and isinstance(item, str):
                value[key] = REDACTED
            else:
                redact_tls(item, inside_tls or key in _TLS_KEYS)
    elif isinstance(value, list):
        for item in value:
            redact_tls(item, inside_tls)
    return value


_QUOTED_TLS_KEYS = tuple(f'"{key}"'.encode() for key in _TLS_KEYS)


def may_hold_tls(data: bytes) -> bool:
    """Whether ``redact_tls`` can find anything in the JSON ``data``: a TLS key appears as a string
    (quoted: a gateway's node lists ``...transport_sockets...`` extensions in every answer), or some
    string is written with ``\\u`` escapes (which could spell one; Envoy's JSON escapes only
    characters such as ``<`` and ``&`` that way)."""
    return b"\\u" in data or any(key in data for key in _QUOTED_TLS_KEYS)


class _Deadline:
    """When the request in flight must be over (monotonic seconds); shared by every connection of
    one client."""

    def __init__(self) -> None:
        self.at = math.inf

    def left(self, timeout: float | None) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            import httpcore

            raise httpcore.ReadTimeout("the request's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)


def _deadline_transport(deadline: _Deadline) -> httpx.BaseTransport:
    """An httpx transport whose every connect, read and write ends by ``deadline.at``.

    httpx's own timeouts apply to each socket operation: a server sending one byte a second
    never trips them. This one (on httpcore's public network-backend API) bounds the whole request.
    """
    import httpcore
    import httpx

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, deadline.left(timeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, deadline.left(timeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> httpcore.NetworkStream:
            return Stream(self._inner.start_tls(ssl_context, server_hostname, deadline.left(timeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Any = None) -> httpcore.NetworkStream:
            return Stream(self._inner.connect_tcp(host, port, deadline.left(timeout), local_address, socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None,
                                socket_options: Any = None) -> httpcore.NetworkStream:  # pragma: no cover
            return Stream(self._inner.connect_unix_socket(path, deadline.left(timeout), socket_options))

        def sleep(self, seconds: float) -> None:  # pragma: no cover - retries are off
            self._inner.sleep(seconds)

    def mapped(exc: Exception, request: httpx.Request) -> httpx.HTTPError:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, httpcore.TimeoutException):
            return httpx.ReadTimeout(text, request=request)
        if isinstance(exc, httpcore.ConnectError):
            return httpx.ConnectError(text, request=request)
        if isinstance(exc, httpcore.ProtocolError):
            return httpx.RemoteProtocolError(text, request=request)
        return httpx.ReadError(text, request=request)

    class Body(httpx.SyncByteStream):
        def __init__(self, inner: Any, request: httpx.Request) -> None:
            self._inner = inner
            self._request = request

        def __iter__(self) -> Any:
            try:
                yield from self._inner
            except httpcore.TimeoutException as exc:
                raise mapped(exc, self._request) from None
            except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise mapped(exc, self._request) from None

        def close(self) -> None:
            self._inner.close()

    class Transport(httpx.BaseTransport):
        def __init__(self) -> None:
            self._pool = httpcore.ConnectionPool(network_backend=Backend(), retries=0, max_connections=1)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method != "GET":  # AdminClient never sends anything else; this never will
                raise httpx.UnsupportedProtocol(f"refusing {request.method}: GET only")
            core = httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                                 target=request.url.raw_path),
                headers=request.headers.raw, content=request.stream, extensions=request.extensions,
            )
            try:
                response = self._pool.handle_request(core)
            except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise mapped(exc, request) from None
            return httpx.Response(status_code=response.status, headers=response.headers,
                                  stream=Body(response.stream, request), extensions=response.extensions)

        def close(self) -> None:
            self._pool.close()

    return Transport()


class AdminClient:
    """GET-only access to one Envoy admin endpoint."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 label: str | None = None) -> None:
        import httpx

        self.timeout = check_seconds(timeout)
        self.base_url = admin_base_url(base_url)
        self.label = label or redact_url(self.base_url)
        """How messages name this target (the URL, or e.g. ``pod/istio-ingress/gw-1`` behind a relay)."""
        self._deadline = _Deadline()
        if transport is None:
            transport = _deadline_transport(self._deadline)
        self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path_and_query: str) -> bytes:
        """The body of ``GET /path_and_query``; anything but a 200 is an :class:`InputError`."""
        return self._exchange(path_and_query)[2]

    def _exchange(self, path_and_query: str, *, accept: tuple[int, ...] = ()) -> tuple[int, str, bytes]:
        """(status, content type, body) of ``GET /path_and_query``. A status other than 200 and those
        in ``accept`` is an :class:`InputError` (STK0001); so is a 200 that is not JSON."""
        import httpx

        if any(w in path_and_query.lower() for w in FORBIDDEN_WORDS):
            raise ValueError(f"refusing to request {path_and_query!r}: stickyctl never reads secrets")
        url = f"{self.base_url}/{path_and_query.lstrip('/')}"
        what = f"GET /{path_and_query}"
        limit = max_input_bytes()
        self._deadline.at = time.monotonic() + self.timeout
        try:
            with self._client.stream("GET", url) as response:
                status = response.status_code
                if status != 200 and status not in accept:
                    raise InputError(self.label, f"{what} answered {status}{_status_hint(response)}",
                                     code="STK0001")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():  # decoded: the limit bounds memory
                    size += len(chunk)
                    if size > limit:
                        raise InputError(self.label, f"{what}: the answer is larger than {limit} bytes; not read "
                                                     "(set STICKYCTL_MAX_INPUT_BYTES to allow larger inputs)",
                                         code="STK0001")
                    if time.monotonic() > self._deadline.at:
                        raise httpx.ReadTimeout("the request's deadline passed")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
        except httpx.TimeoutException:
            raise InputError(self.label, f"timed out: {what} was not answered in full within {self.timeout:g}s",
                             code="STK0001") from None
        except httpx.RemoteProtocolError as exc:
            raise InputError(self.label, f"{what}: the answer is not HTTP ({_reason(exc)}): is this an Envoy admin "
                                         "API?", code="STK0001") from None
        except httpx.HTTPError as exc:
            raise InputError(self.label, f"cannot reach the Envoy admin API: {_reason(exc)}", code="STK0001") from None
        finally:
            self._deadline.at = math.inf
        data = b"".join(chunks)
        if (status == 200 and content_type and "json" not in content_type.lower()
                and data.lstrip()[:1] not in (b"{", b"[")):
            raise InputError(self.label, f"{what}: the answer is {content_type.split(';')[0].strip()}, not JSON: "
                                         "is this an Envoy admin API?")
        return status, content_type, data

    def get_json(self, path_and_query: str) -> Any:
        return _json_document(self.get(path_and_query), self.label, f"GET /{path_and_query}")

    def fetch_configs(self) -> list[Any]:
        """The flat ``configs[]`` entries of the bootstrap node and of every resource query.

        This is what ``stickyctl dump`` records; :func:`parts_from_configs` reads it back.
        """
        configs: list[Any] = []
        doc = self.get_json(f"config_dump?{IDENTITY_QUERY}")
        entries = doc.get("configs") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise InputError(self.label, f"GET /config_dump?{IDENTITY_QUERY}: no 'configs' list in the answer: is "
                                         "this an Envoy admin API?")
        # Masked dumps still list every section's @type; keep only the bootstrap from the mask.
        configs.extend(e for e in entries if isinstance(e, dict) and "Bootstrap" in str(e.get("@type")))
        for query, _ in RESOURCE_QUERIES:
            entries, data = self._fetch_resource(query)
            # Walking every answer for TLS blocks costs more than the rest of reading a pod (a
            # gateway's node metadata alone is thousands of values): skip answers that cannot hold one.
            configs.extend(redact_tls(entries) if may_hold_tls(data) else entries)
        return configs

    def fetch_resource(self, query: str) -> list[Any]:
        """The ``configs[]`` entries of ``config_dump?<query>`` (``resource=NAME[&…]``); [] when Envoy
        has none of them.

        Envoy says "none" in two ways, both [seen] on 1.36 and 1.40 alike: ``{}`` (no ``configs``
        key) when the section exists but the field is empty (``static_listeners`` on an Envoy that has
        only dynamic ones, or none at all), and a 404 ``NAME not found in config dump`` when the whole
        section is absent (no route table on an Envoy without an HTTP listener, no endpoints without
        an EDS cluster). Anything else is not an Envoy admin API answering.
        """
        return self._fetch_resource(query)[0]

    def _fetch_resource(self, query: str) -> tuple[list[Any], bytes]:
        """:meth:`fetch_resource`'s entries and the bytes of the answer."""
        resource = urllib.parse.parse_qs(query).get("resource", [""])[0]
        status, _content_type, data = self._exchange(f"config_dump?{query}", accept=(404,))
        what = f"GET /config_dump?{query}"
        if status == 404:
            # Through `pilot-agent request` (--via exec) the text comes after pilot-agent's own prefix.
            if resource and f"{resource} not found in config dump" in data.decode("utf-8", "replace"):
                return [], b""
            raise InputError(self.label, f"{what} answered 404", code="STK0001")
        doc = _json_document(data, self.label, what)
        if doc == {}:
            return [], data
        entries = doc.get("configs") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise InputError(self.label, f"{what}: no 'configs' list in the answer: is this an Envoy admin API?")
        return entries, data

    def fetch_parts(self) -> DumpParts:
        """Bootstrap node, listeners, routes, clusters and endpoints as one ``DumpParts``."""
        return parts_from_configs(self.fetch_configs(), self.label)


def parts_from_configs(configs: list[Any], source: str) -> DumpParts:
    """``DumpParts`` from the entries :meth:`AdminClient.fetch_configs` returned.

    The admin API answered every query, so an empty section means "none", not "not checked".
    """
    # Envoy's admin API prints snake_case: no need to look for the key style in a gateway's node
    # metadata (which is most of the first 64 KiB the guess would scan, for every pod).
    parts = parse_document({"configs": configs}, source, camel=False)
    parts.has_listeners = True
    parts.has_routes = True
    parts.has_clusters = True
    parts.has_endpoints = True
    return parts


def _json_document(data: bytes, label: str, what: str) -> Any:
    import msgspec

    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(label, f"{what}: not JSON ({exc}): is this an Envoy admin API?") from None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _status_hint(response: httpx.Response) -> str:
    """What a non-200 answer says about the endpoint (a redirect is never followed)."""
    if response.is_redirect and "location" in response.headers:
        location = redact_url(response.headers["location"])
        return f" (a redirect to {location}, not followed: give the admin API's own URL)"
    return ""
