"""One module per check code. Each defines ``CODE`` and ``check(ctx) -> Iterator[Finding]``.

A rule decides *whether* and *where*; what a finding says is the catalog's: a rule builds the code's
message type (``stickyctl.catalog.Message``) from typed arguments and yields ``Finding.of(message,
resource)``.

Adding a check: a catalog entry and its message type(s) (stickyctl/catalog.py), a module here listed
in ``RULES``, a fixture case under fixtures/cases/ with its golden messages.yaml
(scripts/gen_golden.py), and the generated docs page (scripts/gen_docs.py). tests/test_meta.py and
tests/test_messages.py fail when any of these is missing.
"""

from __future__ import annotations

from types import ModuleType

from stickyctl.checks.rules import (
    both_session_labels,
    consistent_hash_with_session,
    cookie_path_not_covering_route,
    cookie_ttl_pitfall,
    draining_not_overridable,
    gateway_api_session_persistence_ignored,
    header_session_draining_dropped,
    invalid_session_label_value,
    labelled_service_unrouted,
    listener_rejected,
    override_host_status_empty,
    persistent_session_flag_off,
    replicas_disagree,
    route_without_session_config,
    session_config_differs_by_route,
    session_config_unlabelled,
    session_exposes_backends,
    session_filter_after_router,
    session_filter_by_ecds,
    session_filter_disabled,
    session_filter_missing,
    session_filter_on_inbound,
    session_label_misplaced,
    session_mode_mismatch,
    session_name_mismatch,
    session_name_shared,
    session_service_behind_waypoint,
    sticky_route_cluster_missing,
    strict_session_multi_replica,
    weighted_route_lost_session_config,
    weighted_route_sticky,
)

RULES: tuple[ModuleType, ...] = (
    persistent_session_flag_off,
    invalid_session_label_value,
    both_session_labels,
    session_label_misplaced,
    labelled_service_unrouted,
    gateway_api_session_persistence_ignored,
    session_service_behind_waypoint,
    session_filter_missing,
    session_filter_after_router,
    session_filter_by_ecds,
    listener_rejected,
    session_filter_on_inbound,
    route_without_session_config,
    session_name_mismatch,
    session_mode_mismatch,
    session_filter_disabled,
    session_config_unlabelled,
    weighted_route_sticky,
    cookie_path_not_covering_route,
    cookie_ttl_pitfall,
    consistent_hash_with_session,
    weighted_route_lost_session_config,
    session_name_shared,
    session_config_differs_by_route,
    draining_not_overridable,
    override_host_status_empty,
    sticky_route_cluster_missing,
    header_session_draining_dropped,
    replicas_disagree,
    strict_session_multi_replica,
    session_exposes_backends,
)
