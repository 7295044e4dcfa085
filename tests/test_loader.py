"""Every input shape users have, derived by scripted edits from a dump recorded on a real Envoy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CASES, FIXTURES, RunCli

ISTIOD = FIXTURES / "istiod"

HEALTHY = CASES / "pass-helloworld-header"


def _dump() -> dict[str, Any]:
    if not (HEALTHY / "dump.json").is_file():
        pytest.skip("fixtures not recorded")
    dump: dict[str, Any] = json.loads((HEALTHY / "dump.json").read_text())
    return dump


# Map fields: protojson keeps their keys as they are.
_MAPS = {"filter_metadata", "typed_filter_metadata", "typed_per_filter_config", "LABELS", "labels"}


def camel(value: Any) -> Any:
    """What protojson (istioctl proxy-config -o json) prints: lowerCamelCase field names."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            nk = k if k.startswith("@") else re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k)
            out[nk] = {mk: camel(mv) for mk, mv in v.items()} if k in _MAPS and isinstance(v, dict) else camel(v)
        return out
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def _section(dump: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in dump["configs"] if c["@type"].endswith("." + kind))


def _bare_lists(dump: dict[str, Any]) -> dict[str, list[Any]]:
    listeners = [dl["active_state"]["listener"] for dl in _section(dump, "ListenersConfigDump")["dynamic_listeners"]]
    listeners += [sl["listener"] for sl in _section(dump, "ListenersConfigDump").get("static_listeners", [])]
    routes = [rc["route_config"] for rc in _section(dump, "RoutesConfigDump")["dynamic_route_configs"]]
    clusters = [c["cluster"] for c in _section(dump, "ClustersConfigDump")["dynamic_active_clusters"]]
    return {"listeners": listeners, "routes": routes, "clusters": clusters}


def test_yaml_dump_gives_the_same_findings(run_cli: RunCli, tmp_path: Path) -> None:
    dump = _dump()
    (tmp_path / "dump.yaml").write_text(yaml.safe_dump(dump))
    a = run_cli("check", "-f", str(HEALTHY / "dump.json"), "--services", str(HEALTHY / "services.yaml"), "-o", "json")
    b = run_cli("check", "-f", str(tmp_path / "dump.yaml"), "--services", str(HEALTHY / "services.yaml"), "-o", "json")
    assert a.exit_code == b.exit_code == 0
    assert json.loads(a.stdout)["findings"] == json.loads(b.stdout)["findings"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_istioctl_camelcase_lists_form_one_proxy(run_cli: RunCli, tmp_path: Path, fmt: str) -> None:
    lists = _bare_lists(_dump())
    files = []
    for kind, items in lists.items():
        p = tmp_path / f"{kind}.{fmt}"
        text = json.dumps(camel(items)) if fmt == "json" else yaml.safe_dump(camel(items))
        assert re.search(r"\b[a-z]+[A-Z][a-z]+(Config|Timeout|Chains|Hosts)\b", text), "not camelCase"
        p.write_text(text)
        files += ["-f", str(p)]
    res = run_cli("check", *files, "--services", str(HEALTHY / "services.yaml"), "-o", "json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 0, res.stdout
    assert [p["name"] for p in doc["proxies"]] == [f"listeners.{fmt}"]
    assert doc["summary"]["sticky_routes"] == 1
    assert [(f["code"], f["resource_id"]) for f in doc["findings"]] == [
        ("STK0404", f"proxy:listeners.{fmt}/cluster:outbound|5000||helloworld.helloworld.svc.cluster.local"),
        ("STK0601", f"proxy:listeners.{fmt}"),
    ]


def test_camelcase_without_filter_is_still_caught(run_cli: RunCli, tmp_path: Path) -> None:
    lists = _bare_lists(_dump())
    for lst in lists["listeners"]:
        for ch in lst.get("filter_chains", []):
            for f in ch.get("filters", []):
                hf = f.get("typed_config", {}).get("http_filters")
                if hf is not None:
                    f["typed_config"]["http_filters"] = [x for x in hf if "stateful_session" not in x["name"]]
    p = tmp_path / "listeners.json"
    p.write_text(json.dumps(camel(lists["listeners"])))
    # A listener list alone says nothing is sticky: no finding (the flag's default) ...
    alone = run_cli("check", "-f", str(p), "-o", "json")
    assert alone.exit_code == 0 and json.loads(alone.stdout)["findings"] == []
    # ... with the labelled Service given, the missing filter is an error.
    res = run_cli("check", "-f", str(p), "--services", str(HEALTHY / "services.yaml"), "-o", "json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 1
    # STK0105: the labelled Service's routes are not in the input either.
    assert [f["code"] for f in doc["findings"]] == ["STK0105", "STK0201"]
    assert "http.8080 used by its listeners are not in the input" in " ".join(doc["summary"]["not_checked"])


def test_flat_resource_configs(run_cli: RunCli, tmp_path: Path) -> None:
    """`config_dump?resource=…` returns bare DynamicListener / DynamicRouteConfig / DynamicCluster entries."""
    dump = _dump()
    boot = _section(dump, "BootstrapConfigDump")
    flat = [boot]
    for kind, key, entry_type in (
        ("ListenersConfigDump", "dynamic_listeners", "ListenersConfigDump.DynamicListener"),
        ("RoutesConfigDump", "dynamic_route_configs", "RoutesConfigDump.DynamicRouteConfig"),
        ("ClustersConfigDump", "dynamic_active_clusters", "ClustersConfigDump.DynamicCluster"),
    ):
        for e in _section(dump, kind)[key]:
            flat.append({"@type": f"type.googleapis.com/envoy.admin.v3.{entry_type}", **e})
    p = tmp_path / "flat.json"
    p.write_text(json.dumps({"configs": flat}))
    res = run_cli("check", "-f", str(p), "--services", str(HEALTHY / "services.yaml"), "-o", "json")
    assert res.exit_code == 0, res.stdout
    assert [f["code"] for f in json.loads(res.stdout)["findings"]] == ["STK0404", "STK0601"]


def test_stdin(run_cli: RunCli) -> None:
    text = (HEALTHY / "dump.json").read_text() if (HEALTHY / "dump.json").is_file() else pytest.skip("no fixtures")
    res = run_cli("check", "-f", "-", "-o", "json", stdin=text)
    assert res.exit_code == 0
    assert json.loads(res.stdout)["proxies"][0]["sources"] == ["stdin"]


@pytest.mark.parametrize("cut", [1, 10, 100, 1000, 5000, -2])
def test_truncated_dump_is_one_line_exit_3(run_cli: RunCli, tmp_path: Path, cut: int) -> None:
    data = (HEALTHY / "dump.json").read_bytes() if (HEALTHY / "dump.json").is_file() else pytest.skip("no fixtures")
    p = tmp_path / "cut.json"
    p.write_bytes(data[:cut])
    res = run_cli("check", "-f", str(p))
    assert res.exit_code == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(p) in lines[0], res.stderr
    assert "Traceback" not in res.stdout + res.stderr


def test_wrong_type_names_the_field(run_cli: RunCli, tmp_path: Path) -> None:
    dump = _dump()
    lst = _section(dump, "ListenersConfigDump")["dynamic_listeners"][0]["active_state"]["listener"]
    lst["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"] = "oops"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(dump))
    res = run_cli("check", "-f", str(p), "-o", "json")
    assert res.exit_code == 3
    assert "filter_chains[0].filters[0].typed_config.http_filters: Expected `array`, got `str`" in res.stderr
    doc = json.loads(res.stdout)
    assert [(f["code"], f["resource_id"]) for f in doc["findings"]] == [("STK0002", f"file:{p}")]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty input"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
        (b"[1, 2]", "item [0] is a number"),
        (b'{"configs": 5}', "'configs' is a number"),
        (b"key: [unclosed\n", "invalid YAML at line"),
        (b'"just a string"', "a string"),
    ],
)
def test_not_a_dump(run_cli: RunCli, tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(content)
    res = run_cli("check", "-f", str(p))
    assert res.exit_code == 3
    assert needle in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "Kubernetes Service manifest, not an Envoy "
         "config dump: `stickyctl check` reads it with --services"),
        (b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod}\n", "reads it with --istiod"),
        (b"- {apiVersion: v1, kind: Service, metadata: {name: x}}\n- {apiVersion: v1, kind: Service, metadata: "
         b"{name: y}}\n", "item [0] is a Kubernetes Service, not an Envoy resource"),
    ],
)
def test_a_manifest_given_to_f_is_a_usage_error(run_cli: RunCli, tmp_path: Path, content: bytes,
                                                needle: str) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(content)
    res = run_cli("check", "-f", str(p), "-o", "json")
    assert res.exit_code == 2
    assert res.stdout == ""  # nothing was checked: no report
    assert res.stderr.startswith(f"stickyctl: error: {p}: ") and needle in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1


@pytest.mark.parametrize("option", ["--services", "--istiod"])
@pytest.mark.parametrize("form", ["admin", "resource", "istioctl-list", "yaml"])
def test_a_config_dump_given_to_services_is_a_usage_error(run_cli: RunCli, tmp_path: Path, option: str,
                                                          form: str) -> None:
    """A dump in --services/--istiod is named as what it is, exit 2, and no finding is made from it
    (before: STK0002 plus an invented STK0305 and "0 sticky Services")."""
    dump = json.loads((CASES / "pass-helloworld-header" / "dump.json").read_text())
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    wrong = tmp_path / f"wrong.{'yaml' if form == 'yaml' else 'json'}"
    if form == "admin":
        wrong.write_text(json.dumps(dump))
    elif form == "resource":  # config_dump?resource=dynamic_listeners
        wrong.write_text(json.dumps({"configs": listeners["dynamic_listeners"]}))
    elif form == "istioctl-list":  # istioctl proxy-config listener -o json
        wrong.write_text(json.dumps([d["active_state"]["listener"] for d in listeners["dynamic_listeners"]]))
    else:
        wrong.write_text(yaml.safe_dump(dump))
    good = ["-f", str(CASES / "pass-helloworld-header" / "dump.json")]
    res = run_cli("check", *good, option, str(wrong), "-o", "json")
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr == (f"stickyctl: error: {option} {wrong}: this is an Envoy config dump, not Kubernetes "
                          "manifests: pass it with -f\n")


@pytest.mark.parametrize("option", ["--services", "--istiod"])
@pytest.mark.parametrize(("content", "needle"), [
    (b"", "empty input, expected Kubernetes manifests"),
    (b"# nothing but a comment\n", "empty input, expected Kubernetes manifests"),
    (None, "no such file"),
])
def test_empty_or_missing_manifests_are_named_as_manifests(run_cli: RunCli, tmp_path: Path, option: str,
                                                           content: bytes | None, needle: str) -> None:
    p = tmp_path / "svc.yaml"
    if content is not None:
        p.write_bytes(content)
    res = run_cli("check", "-f", str(CASES / "pass-helloworld-header" / "dump.json"), option, str(p), "-o", "json")
    assert res.exit_code == 3
    assert res.stderr == f"stickyctl: error: {option} {p}: {needle}" + ("" if content is None else
                                                                        " (kubectl get svc -A -o yaml)") + "\n"
    assert "config dump" not in res.stderr
    doc = json.loads(res.stdout)
    # The unreadable input is the only problem reported: no finding is made from Services that were not read.
    if option == "--services":
        input_code = "STK0001" if content is None else "STK0002"
        assert [f["code"] for f in doc["findings"]] == [input_code, "STK0404", "STK0601"]
        assert doc["summary"]["labels_checked"] is False
        assert "label agreement: a --services input could not be read" in doc["summary"]["not_checked"]


def test_istiod_file_without_istiod_says_the_flag_was_not_checked(run_cli: RunCli, tmp_path: Path) -> None:
    case = CASES / "pass-helloworld-header"
    # A Services file passed as --istiod: it reads, but holds no istiod Deployment.
    res = run_cli("check", "-f", str(case / "dump.json"), "--services", str(case / "services.yaml"),
                  "--istiod", str(case / "services.yaml"))
    assert res.exit_code == 0
    note = (f"persistent-session flag: --istiod {case / 'services.yaml'} holds no istiod Deployment (a Deployment "
            "with a discovery container), so the flag was not checked")
    assert "not checked: persistent-session flag: --istiod" in res.stdout
    doc = json.loads(run_cli("check", "-f", str(case / "dump.json"), "--services", str(case / "services.yaml"),
                             "--istiod", str(case / "services.yaml"), "-o", "json").stdout)
    assert doc["summary"]["not_checked"] == [note]
    # With the real istiod Deployment there is no such note.
    flag_off = CASES / "STK0101-istiod-flag-off"
    doc = json.loads(run_cli("check", "-f", str(flag_off / "dump.json"), "--services", str(flag_off / "services.yaml"),
                             "--istiod", str(flag_off / "istiod.yaml"), "-o", "json").stdout)
    assert not any("persistent-session flag" in n for n in doc["summary"]["not_checked"])


def test_directory_and_missing_file(run_cli: RunCli, tmp_path: Path) -> None:
    res = run_cli("check", "-f", str(tmp_path), "-f", str(tmp_path / "nope.json"), "-o", "json")
    assert res.exit_code == 3
    codes = [f["code"] for f in json.loads(res.stdout)["findings"]]
    assert codes == ["STK0001", "STK0001"]
    assert "is a directory" in res.stderr and "no such file" in res.stderr


def test_one_bad_file_does_not_hide_the_others(run_cli: RunCli, tmp_path: Path) -> None:
    _dump()
    p = tmp_path / "bad.json"
    p.write_text("{")
    res = run_cli("check", "-f", str(p), "-f", str(HEALTHY / "dump.json"), "-o", "json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 3
    assert sorted(f["code"] for f in doc["findings"]) == ["STK0002", "STK0404", "STK0601"]


def test_threshold_and_suppress(run_cli: RunCli) -> None:
    case = CASES / "STK0401-no-draining"
    if not case.is_dir():
        pytest.skip("fixtures not recorded")
    base = ["check", "-f", str(case / "dump.json"), "--services", str(case / "services.yaml"), "-o", "json"]
    assert run_cli(*base).exit_code == 0
    assert run_cli(*base, "--failure-threshold", "warning").exit_code == 1
    assert run_cli(*base, "--failure-threshold", "info").exit_code == 1
    res = run_cli(*base, "--failure-threshold", "info", "--suppress", "STK0601", "--suppress", "STK0401=*|5000||*")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["findings"] == [] and doc["summary"]["suppressed"] == 2
    res = run_cli(*base, "--suppress", "STK0401=*nomatch*", "--failure-threshold", "warning")
    assert res.exit_code == 1
    bad = run_cli(*base, "--suppress", "STK0002")
    assert bad.exit_code == 2 and "cannot be suppressed" in bad.stderr
    assert run_cli(*base, "--suppress", "STK9999").exit_code == 2


def test_query(run_cli: RunCli) -> None:
    _dump()
    res = run_cli("check", "--sample", "helloworld", "-o", "json", "--query", "findings[].code")
    assert res.exit_code == 0
    assert json.loads(res.stdout) == ["STK0404", "STK0601"]
    assert run_cli("check", "--sample", "helloworld", "--query", "x").exit_code == 2
    assert run_cli("check", "--sample", "helloworld", "-o", "json", "--query", "[[").exit_code == 2


def test_no_input_is_usage_error(run_cli: RunCli) -> None:
    res = run_cli("check")
    assert res.exit_code == 2 and "no input" in res.stderr


def test_check_decoding_skips_only_what_check_does_not_read(tmp_path: Path) -> None:
    """``full=False`` (check) leaves EDS and virtual host domains unread; ``full=True`` (why, decode
    --resolve) reads them; the model is otherwise the same (schema.CHECK_SKIPS)."""
    from stickyctl.envoy.loader import load_file
    from stickyctl.envoy.model import build_proxies

    dump = _dump()
    assert any(c["@type"].endswith(".EndpointsConfigDump") for c in dump["configs"]), "fixture without EDS"
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    (lean,) = build_proxies([load_file(str(path), full=False)])
    (full,) = build_proxies([load_file(str(path), full=True)])

    def vhosts(p: Any) -> list[Any]:
        return [vh for rc in p.route_configs.values() for vh in rc.virtual_hosts]

    assert any(vh.domains for vh in vhosts(full))
    assert all(vh.domains == () for vh in vhosts(lean))
    assert full.endpoints and lean.endpoints == {}  # EDS seen, not read
    # Everything else check reads is the same, session configs included.
    assert [(vh.name, vh.routes, vh.session) for vh in vhosts(lean)] == [(vh.name, vh.routes, vh.session)
                                                                         for vh in vhosts(full)]
    assert any(r.session for vh in vhosts(lean) for r in vh.routes)
    assert lean.clusters == full.clusters

    def chains(p: Any) -> list[Any]:  # inline route configs differ by their domains only
        return [(lst.name, lst.state, [(c.id, c.hcm and c.hcm.filters, c.hcm and c.hcm.rds_name) for c in lst.chains])
                for lst in p.listeners]

    assert chains(lean) == chains(full)


def test_check_decoding_of_camelcase_route_lists(tmp_path: Path) -> None:
    """The same skip in the camelCase twins (istioctl proxy-config route -o json); map keys such as
    typed_per_filter_config's filter names stay as they are."""
    from stickyctl.envoy.loader import load_file
    from stickyctl.envoy.model import build_proxies

    path = tmp_path / "routes.json"
    path.write_text(json.dumps(camel(_bare_lists(_dump())["routes"])))
    assert "virtualHosts" in path.read_text() and "envoy.filters.http.stateful_session" in path.read_text()
    (lean,) = build_proxies([load_file(str(path), full=False)])
    (full,) = build_proxies([load_file(str(path), full=True)])
    lean_vh = [vh for rc in lean.route_configs.values() for vh in rc.virtual_hosts]
    full_vh = [vh for rc in full.route_configs.values() for vh in rc.virtual_hosts]
    assert any(vh.domains for vh in full_vh) and all(vh.domains == () for vh in lean_vh)
    assert [vh.routes for vh in lean_vh] == [vh.routes for vh in full_vh]
    assert any(r.session for vh in lean_vh for r in vh.routes)


def test_check_skips_name_real_fields() -> None:
    # A misspelt entry would silently skip nothing.
    from stickyctl.envoy import schema

    for name in schema.CHECK_SKIPS:
        cls_name, field_name = name.removesuffix(":raw").split(".")
        assert field_name in getattr(schema, cls_name).__struct_fields__, name


def test_check_reads_waypoint_tunnels_from_undecoded_eds(tmp_path: Path) -> None:
    """check keeps each load assignment undecoded and decodes only those that tunnel to a waypoint
    (STK0107): the same waypoints as a full read, from the admin dump and from istioctl's camelCase
    endpoint list alike."""
    from stickyctl.envoy.loader import load_file
    from stickyctl.envoy.model import InternalAddress, build_proxies

    recorded = ISTIOD / "header-behind-waypoint" / "recorded"
    dump = recorded / "config_dump.json"
    (lean,) = build_proxies([load_file(str(dump), full=False)])
    (full,) = build_proxies([load_file(str(dump), full=True)])
    cluster = "outbound|5000||helloworld.helloworld.svc.cluster.local"
    assert lean.endpoints == {} and full.endpoints is not None
    # The full read lists the tunnel as the cluster's host too, as Envoy spells it (why, decode --resolve).
    assert [(e.internal, e.address, e.port) for e in full.endpoints[cluster]] == [
        (InternalAddress("connect_originate", "127.0.0.31:15008"), "127.0.0.31", 15008)]
    assert lean.waypoints == full.waypoints
    assert [(t.waypoint, t.target, t.workload_name) for t in full.waypoints[cluster]] == [
        ("127.0.0.31:15008", "10.96.0.50:5000", "waypoint-7d9f6b8c5-w1a2b")]
    bare = tmp_path / "endpoints.json"
    assignments = [c for c in json.loads((recorded / "xds" / "endpoints.json").read_text()) if c.get("endpoints")]
    bare.write_text(json.dumps(camel(assignments)))
    (from_list,) = build_proxies([load_file(str(bare), full=False)])
    assert from_list.waypoints == full.waypoints
    mesh_only = ISTIOD / "header-use-waypoint-mesh-only" / "recorded" / "config_dump.json"
    assert build_proxies([load_file(str(mesh_only), full=False)])[0].waypoints == {}
