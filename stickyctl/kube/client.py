"""One connection to a Kubernetes API server per kube context, through the official client.

Configuration (kubeconfig, contexts, in-cluster service account, token / client certificate /
exec credential plugin) is loaded by ``kubernetes.config``; requests go through the client's own
urllib3 pool (its TLS, CA and proxy settings) with its auth headers. Everything stickyctl sends is
a GET: lists and gets, and the websocket upgrades of ``pods/portforward`` and ``pods/exec``.

Failures become one-line errors: an unreachable server, rejected credentials (401), a missing
permission (403, naming the verb, the resource and the namespace stickyctl needed), a missing
object (404). Bearer tokens never appear in a message: messages are built here from the request
we meant to make, never from headers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stickyctl import __version__
from stickyctl.errors import StickyError, UsageError, check_seconds

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

RBAC_DOC = "docs/rbac.yaml"
USER_AGENT = f"stickyctl/{__version__}"
CONNECT_TIMEOUT_MAX = 5.0
"""Seconds to wait for a TCP/TLS connection to the API server (less when --timeout is smaller)."""
PAGE_SIZE = 500
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

Query = Sequence[tuple[str, str]]


class KubeError(StickyError):
    """A cluster could not be read; one line, exit 3."""


class ApiUnreachable(KubeError):
    pass


class ApiUnauthorized(KubeError):
    pass


class ApiForbidden(KubeError):
    def __init__(self, message: str, access: Access) -> None:
        super().__init__(message)
        self.access = access


class ApiNotFound(KubeError):
    pass


@dataclass(frozen=True)
class Access:
    """What a request needs in RBAC terms: the verb, the resource (``pods``, ``pods/portforward``,
    ``deployments.apps``) and the namespace (None: all namespaces)."""

    verb: str
    resource: str
    namespace: str | None = None

    def describe(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "in all namespaces"
        return f"'{self.verb}' on {self.resource} {where}"


def _status_message(body: bytes) -> str:
    """The ``message`` of a Kubernetes Status body, else the body's first line."""
    import msgspec

    try:
        doc = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        text = body.decode("utf-8", "replace").strip()
        return text.splitlines()[0][:300] if text else ""
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return ""


def redact_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=host)
    return urllib.parse.urlunsplit(parts)


def _register_credential(value: str) -> None:
    """A header value such as ``Bearer <token>``: never show it, nor the token alone."""
    from stickyctl.sanitize import register_secret

    register_secret(value)
    scheme, _, credential = value.partition(" ")
    if credential and scheme.lower() in ("bearer", "basic"):
        register_secret(credential)


_SECRET_USER_KEYS = ("token", "password", "client-key-data")
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|key|cred|auth|session|private|cert|cookie", re.IGNORECASE)
"""Auth-provider settings and exec plugin env vars whose name says they hold a credential
(``refresh-token``, ``client-secret``, ``API_KEY``); others (``client-id``, ``AWS_REGION``) are
ordinary words that must stay readable in messages, unless their value looks like a token."""


def _credential_like(name: object, value: object) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(name, str) and _SECRET_NAME.search(name):
        return True
    return len(value) >= 20 and not any(c.isspace() for c in value) and not value.startswith(("/", "http"))


def register_kubeconfig_secrets(kubeconfig: str | None) -> None:
    """Every credential the kubeconfig file(s) hold, for every user (a message may come from any
    context): tokens, passwords, client key data, and the auth-provider settings and exec credential
    plugin env values that hold credentials. See stickyctl.sanitize.scrub."""
    import yaml

    from stickyctl.sanitize import register_secret

    if kubeconfig is not None:
        paths = [kubeconfig]
    elif os.environ.get("KUBECONFIG"):
        paths = [p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        paths = [os.path.expanduser("~/.kube/config")]
    for path in paths:
        try:
            if os.path.getsize(path) > 16 << 20:
                continue
            with open(path, encoding="utf-8") as fh:
                doc = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (OSError, ValueError, yaml.YAMLError, RecursionError):
            continue
        users = doc.get("users") if isinstance(doc, dict) else None
        for entry in users if isinstance(users, list) else []:
            user = entry.get("user") if isinstance(entry, dict) else None
            if not isinstance(user, dict):
                continue
            for key in _SECRET_USER_KEYS:
                register_secret(user.get(key))
            provider = user.get("auth-provider")
            config = provider.get("config") if isinstance(provider, dict) else None
            if isinstance(config, dict):
                for name, value in config.items():
                    if _credential_like(name, value):
                        register_secret(value)
            plugin = user.get("exec")
            env = plugin.get("env") if isinstance(plugin, dict) else None
            for item in env if isinstance(env, list) else []:
                if isinstance(item, dict) and _credential_like(item.get("name"), item.get("value")):
                    register_secret(item.get("value"))


def _register_configuration(cfg: Any) -> None:
    """What the loader put in the client configuration (a token read from a file, an exec plugin's)."""
    from stickyctl.sanitize import register_secret

    for value in (getattr(cfg, "api_key", None) or {}).values():
        if isinstance(value, str):
            _register_credential(value)
    register_secret(getattr(cfg, "password", None))


class _Capture(logging.Handler):
    """Collects what the kubernetes config loader logs (e.g. a failing exec plugin) instead of
    letting it reach stderr; it becomes part of the error message when the API then says 401."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0] if record.getMessage() else "")


@contextlib.contextmanager
def _captured_logging() -> Iterator[_Capture]:
    # The loader calls logging.error() on the root logger: a handler there keeps logging from
    # installing its own stderr handler (basicConfig) and lets us keep the message.
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _quiet_libraries() -> None:
    import warnings

    # insecure-skip-tls-verify is the kubeconfig's choice, as with kubectl: no per-request warning.
    with contextlib.suppress(ImportError):
        import urllib3

        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)


def default_kubeconfig_present() -> bool:
    if os.environ.get("KUBECONFIG"):
        return True
    return os.path.exists(os.path.expanduser("~/.kube/config"))


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and bool(os.environ.get("KUBERNETES_SERVICE_PORT"))


def kube_contexts(kubeconfig: str | None) -> tuple[list[str], str | None, dict[str, str]]:
    """(context names, current context, context -> its namespace) from the kubeconfig."""
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    loader: Any = kube_config  # the kubernetes config package is untyped
    try:
        contexts, current = loader.list_kube_config_contexts(config_file=kubeconfig)
    except ConfigException as exc:
        raise KubeError(f"kubeconfig: {_first_line(exc)}") from None
    except OSError as exc:
        raise KubeError(f"kubeconfig {kubeconfig or ''}: {exc.strerror or exc}".replace(" :", ":")) from None
    except Exception as exc:  # e.g. YAML that does not parse
        raise KubeError(f"kubeconfig {kubeconfig or ''}: not a readable kubeconfig ({_first_line(exc)})"
                        .replace(" :", ":")) from None
    names = [str(c.get("name")) for c in contexts if isinstance(c, dict)]
    namespaces = {str(c.get("name")): str((c.get("context") or {}).get("namespace") or "default")
                  for c in contexts if isinstance(c, dict)}
    cur = current.get("name") if isinstance(current, dict) else None
    return names, (str(cur) if cur else None), namespaces


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class Cluster:
    """GET-only access to one API server."""

    def __init__(self, api: ApiClient, *, context: str, namespace: str, timeout: float,
                 load_messages: Sequence[str] = ()) -> None:
        self._api = api
        self.context = context
        self.namespace = namespace
        """The context's default namespace (kubectl's, when -n is not given)."""
        self.timeout = timeout
        self.server = redact_url(str(api.configuration.host))
        self._load_messages = list(load_messages)

    @property
    def configuration(self) -> Any:
        return self._api.configuration

    def close(self) -> None:
        api: Any = self._api
        with contextlib.suppress(Exception):
            api.close()

    # -- requests ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        cfg = self.configuration
        for setting in cfg.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
                _register_credential(str(setting["value"]))  # a refreshed exec/OIDC token too
        return headers

    def _url(self, path: str, query: Query = ()) -> str:
        url = str(self.configuration.host).rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(list(query))
        return url

    def _where(self) -> str:
        return f"the Kubernetes API at {self.server} (context {self.context})"

    def unreachable(self, reason: str) -> ApiUnreachable:
        return ApiUnreachable(f"cannot reach {self._where()}: {reason}")

    def _raise_for_status(self, status: int, body: bytes, what: str, access: Access | None) -> None:
        message = _status_message(body)
        if status == 401:
            hint = ""
            if self._load_messages:
                hint = f" (the credential plugin said: {self._load_messages[-1]})"
            raise ApiUnauthorized(f"{self._where()} rejected the credentials (401 Unauthorized){hint}: "
                                  "log in again or refresh the kubeconfig's token")
        if status == 403 and access is not None:
            said = f" (the API server said: {message})" if message else ""
            raise ApiForbidden(f"forbidden: stickyctl needs {access.describe()}{said}; see {RBAC_DOC}", access)
        if status == 404:
            raise ApiNotFound(f"{what}: not found" + (f" ({message})" if message else ""))
        raise KubeError(f"{what}: the API answered {status}" + (f": {message}" if message else ""))

    def get(self, path: str, query: Query = (), *, access: Access | None = None) -> Any:
        """GET a JSON document; raise a KubeError subclass on any failure."""
        import msgspec
        import urllib3

        url = self._url(path, query)
        timeout = urllib3.Timeout(connect=min(self.timeout, CONNECT_TIMEOUT_MAX), read=self.timeout)
        started = time.monotonic()
        try:
            response = self._api.rest_client.pool_manager.request(
                "GET", url, headers=self._headers(), timeout=timeout, retries=False, preload_content=True,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # (a ConnectTimeoutError subclass in urllib3 2)
            raise self.unreachable(_connection_reason(exc)) from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise self.unreachable(f"no connection within {min(self.timeout, CONNECT_TIMEOUT_MAX):g}s") from None
        except urllib3.exceptions.ReadTimeoutError:  # (also a TLS handshake that never ends)
            waited = time.monotonic() - started
            raise self.unreachable(f"no answer to GET {path} after {waited:.0f}s") from None
        except urllib3.exceptions.SSLError as exc:
            raise self.unreachable(f"TLS failed: {_ssl_reason(exc)}") from None
        except urllib3.exceptions.ProxyError as exc:
            raise self.unreachable(f"proxy error: {_first_line(exc)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.unreachable(_connection_reason(exc)) from None
        body: bytes = response.data or b""
        if response.status != 200:
            self._raise_for_status(response.status, body, f"GET {path}", access)
        try:
            return msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            raise KubeError(f"GET {path} on {self._where()}: the answer is not JSON") from None

    def list_all(self, path: str, query: Query = (), *, access: Access) -> list[dict[str, Any]]:
        """All items of a list, page by page (``limit`` / ``continue``)."""
        items: list[dict[str, Any]] = []
        token = ""
        for _ in range(10_000):
            q = [*query, ("limit", str(PAGE_SIZE))]
            if token:
                q.append(("continue", token))
            doc = self.get(path, q, access=access)
            if not isinstance(doc, dict):
                raise KubeError(f"GET {path}: not a list")
            kind = str(doc.get("kind") or "")
            for item in doc.get("items") or []:
                if isinstance(item, dict):
                    # Items of a list carry no kind/apiVersion of their own: give them the list's.
                    if kind.endswith("List") and "kind" not in item:
                        item["kind"] = kind[: -len("List")]
                    if "apiVersion" not in item and isinstance(doc.get("apiVersion"), str):
                        item["apiVersion"] = doc["apiVersion"]
                    items.append(item)
            meta = doc.get("metadata") or {}
            token = str(meta.get("continue") or "") if isinstance(meta, dict) else ""
            if not token:
                return items
        raise KubeError(f"GET {path}: the list did not end")

    def version(self) -> dict[str, Any]:
        doc = self.get("/version")
        return doc if isinstance(doc, dict) else {}

    def api_groups(self) -> dict[str, tuple[str, list[str]]]:
        """group -> (preferred version, all versions), from discovery (/apis)."""
        doc = self.get("/apis")
        out: dict[str, tuple[str, list[str]]] = {}
        for g in (doc or {}).get("groups") or []:
            if not isinstance(g, dict) or not isinstance(g.get("name"), str):
                continue
            versions = [str(v.get("version")) for v in g.get("versions") or [] if isinstance(v, dict)]
            preferred = (g.get("preferredVersion") or {}).get("version") or (versions[0] if versions else "")
            out[g["name"]] = (str(preferred), versions)
        return out

    def resources(self, group: str, version: str) -> set[str]:
        """Resource names served by a group version (discovery), e.g. {'serviceentries', ...}."""
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = self.get(path)
        except ApiNotFound:
            return set()
        return {str(r.get("name")) for r in (doc or {}).get("resources") or [] if isinstance(r, dict)}

    # -- websockets (port-forward, exec) -------------------------------------------------------

    def websocket(self, path: str, query: Query, *, protocols: Sequence[str], access: Access,
                  what: str) -> Any:
        """Open a websocket subresource (GET with Upgrade), authenticated as the client is."""
        import ssl

        import websocket as wsc

        cfg = self.configuration
        url = self._url(path, query)
        if url.startswith("https://"):
            url = "wss://" + url[len("https://"):]
        elif url.startswith("http://"):
            url = "ws://" + url[len("http://"):]
        header = [f"{k}: {v}" for k, v in self._headers().items() if k.lower() in ("authorization",)]
        header.append(f"User-Agent: {USER_AGENT}")
        sslopt: dict[str, Any]
        if url.startswith("wss://") and cfg.verify_ssl:
            import certifi

            sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": cfg.ssl_ca_cert or certifi.where()}
            if cfg.assert_hostname is not None:
                sslopt["check_hostname"] = cfg.assert_hostname
        else:
            sslopt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        if cfg.cert_file:
            sslopt["certfile"] = cfg.cert_file
        if cfg.key_file:
            sslopt["keyfile"] = cfg.key_file
        if cfg.tls_server_name:
            sslopt["server_hostname"] = cfg.tls_server_name
        options: dict[str, Any] = {"header": header, "subprotocols": list(protocols),
                                   "timeout": min(self.timeout, CONNECT_TIMEOUT_MAX * 2)}
        if cfg.proxy:
            proxy = urllib.parse.urlsplit(cfg.proxy)
            options.update(http_proxy_host=proxy.hostname, http_proxy_port=proxy.port,
                           proxy_type=proxy.scheme or "http")
        ws: Any = wsc.WebSocket(sslopt=sslopt, skip_utf8_validation=True, enable_multithread=True)
        try:
            ws.connect(url, **options)
        except wsc.WebSocketBadStatusException as exc:
            ws.close()
            self._raise_for_status(exc.status_code, exc.resp_body or b"", what, access)
            raise  # unreachable: _raise_for_status always raises
        except (wsc.WebSocketTimeoutException, TimeoutError):
            ws.close()
            raise self.unreachable(f"no answer to {what} within {options['timeout']:g}s") from None
        except ssl.SSLError as exc:
            ws.close()
            raise self.unreachable(f"TLS failed: {_ssl_reason(exc)}") from None
        except (wsc.WebSocketException, OSError) as exc:
            ws.close()
            raise self.unreachable(f"{what}: {_connection_reason(exc)}") from None
        return ws


def _ssl_reason(exc: BaseException) -> str:
    text = _first_line(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "the server's certificate is not trusted (certificate-authority in the kubeconfig?)"
    return text


def _connection_reason(exc: BaseException) -> str:
    # urllib3 wraps the socket error; show the innermost reason ("Connection refused").
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror[0].lower() + seen.strerror[1:]
        seen = seen.__cause__ or seen.__context__
    text = _first_line(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the server name does not resolve"
    return text


def connect(*, kubeconfig: str | None, context: str | None, timeout: float) -> Cluster:
    """A Cluster for one kube context (``context`` None: the current one), or in-cluster config when
    no kubeconfig exists and the process runs in a pod."""
    check_seconds(timeout)  # every command that reaches the API: nan or inf must not reach urllib3
    _quiet_libraries()
    from kubernetes.client import ApiClient, Configuration
    from kubernetes.config.config_exception import ConfigException

    cfg = Configuration()
    if kubeconfig is None and context is None and not default_kubeconfig_present() and in_cluster():
        from kubernetes.config import incluster_config

        incluster: Any = incluster_config
        try:
            incluster.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise KubeError(f"in-cluster config: {_first_line(exc)}") from None
        _register_configuration(cfg)
        ns = "default"
        with contextlib.suppress(OSError), open(SA_NAMESPACE_FILE, encoding="utf-8") as fh:
            ns = fh.read().strip() or "default"
        return Cluster(ApiClient(cfg), context="in-cluster", namespace=ns, timeout=timeout)
    if kubeconfig is None and not default_kubeconfig_present():
        raise KubeError("no kubeconfig (~/.kube/config, $KUBECONFIG or --kubeconfig) and not running in a pod")
    if kubeconfig is not None and not os.path.isfile(kubeconfig):
        raise UsageError(f"--kubeconfig {kubeconfig}: no such file")
    register_kubeconfig_secrets(kubeconfig)
    names, current, namespaces = kube_contexts(kubeconfig)
    if context is not None and context not in names:
        raise UsageError(f"--context {context!r}: not in the kubeconfig (contexts: {', '.join(names) or 'none'})")
    chosen = context or current
    if chosen is None:
        raise KubeError("the kubeconfig has no current context: pass --context NAME")
    with _captured_logging() as captured:
        try:
            from kubernetes.config import kube_config

            loader: Any = kube_config
            loader.load_kube_config(config_file=kubeconfig, context=chosen, client_configuration=cfg,
                                    persist_config=False)
        except ConfigException as exc:
            raise KubeError(f"kubeconfig context {chosen}: {_first_line(exc)}") from None
        except OSError as exc:
            raise KubeError(f"kubeconfig context {chosen}: {exc.strerror or exc}") from None
        except (ValueError, TypeError, KeyError) as exc:  # malformed entries (e.g. bad base64 certificate data)
            raise KubeError(f"kubeconfig context {chosen}: {_first_line(exc)}") from None
    _register_configuration(cfg)
    return Cluster(ApiClient(cfg), context=chosen, namespace=namespaces.get(chosen, "default"), timeout=timeout,
                   load_messages=captured.messages)
