"""Dumps decoded one configs[] section at a time (loader.load_sections, model.load_part), and a route
table's virtual hosts in batches: the same views as decoding the whole file, however the dump is
indented; anything else falls back to the whole file, whose errors are the ones reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from stickyctl.checks import engine
from stickyctl.envoy import loader
from stickyctl.envoy.loader import load_file, load_sections
from stickyctl.envoy.model import PartBuilder, Proxy, assemble_proxies, convert_parts, load_part
from stickyctl.errors import InputError
from tests.conftest import CASES
from tests.test_loader import camel
from tests.test_scaling import ADMIN, sticky_routes_dump

CASE_DUMPS = sorted(CASES.glob("*/dump*.json"))


def _whole(path: Path) -> list[Proxy]:
    return assemble_proxies([convert_parts(load_file(str(path), full=False))])


def _sectioned(path: Path) -> list[Proxy] | None:
    builder = PartBuilder()
    parts = load_sections(str(path), builder.take, full=False, take_virtual_hosts=builder.take_virtual_hosts)
    return None if parts is None else assemble_proxies([builder.finish(parts)])


def _gateway(n: int = 6) -> dict[str, Any]:
    """The test gateway plus what a route table section can also hold: a static route configuration,
    a second dynamic one, one without virtual hosts, and an inline one in a listener."""
    dump = sticky_routes_dump(n)
    routes = dump["configs"][3]
    vhosts = routes["dynamic_route_configs"][0]["route_config"]["virtual_hosts"]
    routes["static_route_configs"] = [{"route_config": {"name": "static", "virtual_hosts": vhosts[:2]}}]
    routes["dynamic_route_configs"] += [{"route_config": {"name": "empty"}},
                                        {"route_config": {"name": "http.9090", "virtual_hosts": vhosts[2:4],
                                                          "typed_per_filter_config": {}}}]
    listener = dump["configs"][1]["dynamic_listeners"][0]["active_state"]["listener"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    listener["filter_chains"].append({"name": "inline", "filters": [{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {**hcm, "rds": None, "route_config": {"name": "inline", "virtual_hosts": vhosts[:1]}}}]})
    del listener["filter_chains"][1]["filters"][0]["typed_config"]["rds"]
    dump["configs"].append({"@type": ADMIN + "SecretsConfigDump"})
    return dump


def _outcome(load: Callable[[], list[Proxy]]) -> list[Proxy] | tuple[str, str]:
    try:
        return load()
    except InputError as exc:
        return exc.source, exc.detail


@pytest.mark.parametrize("case", CASE_DUMPS, ids=lambda p: p.parent.name)
def test_recorded_dumps_load_the_same_by_sections(case: Path) -> None:
    assert _outcome(lambda: assemble_proxies([load_part(str(case), full=False)])) == _outcome(lambda: _whole(case))


@pytest.mark.parametrize("indent", [1, 2, 4, "\t"])
@pytest.mark.parametrize("style", ["snake", "camel"])
def test_indented_dumps_load_the_same_by_sections(tmp_path: Path, indent: int | str, style: str) -> None:
    dump = _gateway()
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(camel(dump) if style == "camel" else dump, indent=indent))
    sectioned = _sectioned(path)
    assert sectioned is not None  # this shape is read by sections
    assert sectioned == _whole(path)
    (proxy,) = sectioned
    assert list(proxy.route_configs) == ["static", "http.8080", "empty", "http.9090", "inline"]
    assert len(proxy.route_configs["http.8080"].virtual_hosts) == 6


def test_virtual_hosts_come_in_batches_and_no_piece_is_the_whole_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(sticky_routes_dump(1500), indent=1))
    monkeypatch.setattr(loader, "_SECTION_CHUNK", 1 << 14)
    pieces: list[int] = []

    class Counted:
        def __init__(self, decoder: Any) -> None:
            self.decoder = decoder

        def decode(self, data: Any) -> Any:
            pieces.append(len(data))
            return self.decoder.decode(data)

    c = loader.codec(False, False)
    for name in ("known_entry", "virtual_hosts"):
        monkeypatch.setattr(c, name, Counted(getattr(c, name)))
    sectioned = _sectioned(path)
    monkeypatch.undo()
    assert sectioned == _whole(path)
    size = path.stat().st_size
    # The route table is more than half the file; it came in batches of about a chunk each.
    assert len(pieces) > 20 and max(pieces) < size / 2, (max(pieces), size)


@pytest.mark.parametrize("edit", ["compact", "unknown-entry", "no-configs", "extra-key", "bom"])
def test_other_shapes_fall_back_to_the_whole_file(tmp_path: Path, edit: str) -> None:
    dump = _gateway()
    if edit == "unknown-entry":
        dump["configs"].insert(1, {"@type": ADMIN + "SomethingNewConfigDump", "x": 1})
    text = json.dumps(dump, indent=None if edit == "compact" else 2)
    if edit == "no-configs":
        text = json.dumps({"other": dump["configs"]}, indent=2)
    if edit == "extra-key":
        text = text[:-1] + ',\n "more": 1\n}'
    if edit == "bom":
        text = "\ufeff" + text
    path = tmp_path / "dump.json"
    path.write_text(text, encoding="utf-8")
    assert _sectioned(path) is None
    assert _outcome(lambda: assemble_proxies([load_part(str(path), full=False)])) == _outcome(lambda: _whole(path))


@pytest.mark.parametrize("damage", ["truncated", "garbage-after", "bad-json-in-route", "wrong-type"])
def test_broken_dumps_report_what_the_whole_file_reports(tmp_path: Path, damage: str) -> None:
    text = json.dumps(_gateway(), indent=1)
    if damage == "truncated":
        text = text[: len(text) * 2 // 3]
    elif damage == "garbage-after":
        text += "\n]"
    elif damage == "bad-json-in-route":
        text = text.replace('"prefix": "/"', '"prefix": "/" "x"', 1)
    elif damage == "wrong-type":  # in the route table (the listener's inline one is read later)
        head, _key, tail = text.rpartition('"route": {\n')
        text = head + '"route": 7, "x": {\n' + tail
    path = tmp_path / "dump.json"
    path.write_text(text)
    with pytest.raises(InputError) as whole:
        load_file(str(path), full=False)
    with pytest.raises(InputError) as part:
        load_part(str(path), full=False)
    assert (part.value.source, part.value.detail) == (whole.value.source, whole.value.detail)


def test_a_session_config_that_cannot_be_read_is_reported_with_its_path(tmp_path: Path) -> None:
    """Converting a streamed virtual host fails: the input is read whole, and the error names the route
    configuration (which streaming could not know yet)."""
    dump = json.loads(json.dumps(_gateway()))  # no shared parts: one session config is changed
    vh = dump["configs"][3]["dynamic_route_configs"][0]["route_config"]["virtual_hosts"][3]
    vh["routes"][0]["typed_per_filter_config"]["envoy.filters.http.stateful_session"]["stateful_session"] = 5
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump, indent=1))
    with pytest.raises(InputError) as whole:
        _whole(path)
    with pytest.raises(InputError) as part:
        assemble_proxies([load_part(str(path), full=False)])
    assert part.value.detail == whole.value.detail
    assert whole.value.detail.startswith("route config http.8080.virtual_hosts[3].routes[0]")


def test_an_input_that_cannot_be_converted_leaves_the_others_whole(tmp_path: Path) -> None:
    """The input is dropped (STK0002) and the others are checked as if it had not been given: building
    them again must not find them consumed by the first attempt."""
    good, bad = sticky_routes_dump(3), sticky_routes_dump(2)
    bad["configs"][0]["bootstrap"]["node"]["id"] = bad["configs"][0]["bootstrap"]["node"]["id"].replace("gw", "gw2")
    vh = bad["configs"][3]["dynamic_route_configs"][0]["route_config"]["virtual_hosts"][0]
    vh["routes"][0]["typed_per_filter_config"]["envoy.filters.http.stateful_session"]["stateful_session"] = 5
    (tmp_path / "good.json").write_text(json.dumps(good, indent=1))
    (tmp_path / "bad.json").write_text(json.dumps(bad, indent=1))
    both = engine.check(engine.CheckOptions(dumps=[str(tmp_path / "good.json"), str(tmp_path / "bad.json")]))
    alone = engine.check(engine.CheckOptions(dumps=[str(tmp_path / "good.json")]))
    assert [f.code for f in both.findings if f.code == "STK0002"] == ["STK0002"]
    assert both.proxies == alone.proxies and both.proxies[0].routes == 3
    assert [f for f in both.findings if f.code != "STK0002"] == list(alone.findings)


def test_placeholder_is_not_a_name_a_dump_has() -> None:
    name = msgspec.json.decode(msgspec.json.encode({"name": f"{loader.VHOSTS_PLACEHOLDER}0"}))["name"]
    assert name.startswith("\x00")
