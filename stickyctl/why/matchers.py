"""Envoy's request matchers, evaluated on one request: paths, headers, query parameters, RE2.

What Envoy does (source/common/router/config_impl.cc, source/common/http/header_utility.cc,
source/common/common/matchers.cc):

- Path matchers (``prefix``, ``path``, ``safe_regex``, ``path_separated_prefix``) see ``:path``
  without its query string and fragment; ``case_sensitive`` (default true) applies to all but
  ``safe_regex``.
- A header matcher reads every value of the header joined with ``,``. A missing header matches only
  ``present_match: false`` (or ``invert_match`` with ``present_match: true``), unless
  ``treat_missing_header_as_empty``; otherwise the result is inverted by ``invert_match``.
- A query parameter matcher reads the first value of the parameter; a missing one never matches.
- Regexes are RE2 and must match the whole value (``FullMatch``). Python's ``re`` agrees on the
  common subset; anything outside it raises :class:`CannotEvaluate` rather than guessing.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Sequence

from stickyctl.envoy import schema as sc
from stickyctl.envoy.model import RouteMatcher


class CannotEvaluate(Exception):
    """A matcher whose outcome stickyctl cannot decide from the request (unsupported RE2, runtime, …)."""


# --- RE2 ---------------------------------------------------------------------------------------

_UNSUPPORTED_RE2 = (
    (re.compile(r"\\[pP]"), "Unicode classes (\\p)"),
    (re.compile(r"\\[QE]"), "\\Q…\\E literals"),
    (re.compile(r"\\C"), "\\C"),
    (re.compile(r"\\x\{"), "\\x{…} escapes"),
    (re.compile(r"\\[0-9]"), "backreferences or octal escapes"),
    (re.compile(r"\[\[?:[a-z]+:\]"), "POSIX classes ([[:alpha:]])"),
    (re.compile(r"\(\?[=!<]"), "lookaround or (?<name>) groups"),
    (re.compile(r"\(\?[a-zA-Z]*U"), "the U (ungreedy) flag"),
    (re.compile(r"\\Z"), "\\Z"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers"),
)


_NESTED_REPETITION = re.compile(r"\(((?:\?:)?[^()]*[*+}][^()]*)\)[*+{]")
_CLASS_TOKEN = re.compile(r"\[(?:\\.|[^\]])*\]|\\[dDwWsS]|\.")


def _unambiguous(group: str) -> bool:
    body = group.removeprefix("?:")
    if not body or "|" in body:
        return False
    first = body[0]
    if not (first.isalnum() or first in "/-_~:@=,;&%") or body[1:2] in ("*", "+", "?", "{"):
        return False
    for token in _CLASS_TOKEN.findall(body[1:]):
        try:
            if re.fullmatch(token, first, re.ASCII):
                return False
        except re.error:
            return False
    return first not in _CLASS_TOKEN.sub("", body[1:])


@functools.lru_cache(maxsize=1024)
def compile_re2(pattern: str) -> re.Pattern[str]:
    """A Python regex that accepts exactly what RE2 accepts for ``pattern``, or CannotEvaluate."""
    # Scan outside escapes only: "\\\\p" is a backslash then "p".
    unescaped = re.sub(r"\\\\", "", pattern)
    for probe, what in _UNSUPPORTED_RE2:
        if probe.search(unescaped):
            raise CannotEvaluate(f"RE2 regex {pattern!r} uses {what}, which stickyctl does not evaluate")
    for nested in _NESTED_REPETITION.finditer(unescaped):
        # RE2 runs in linear time; Python's backtracking can take exponential time when a repeated
        # group can split the same text in many ways ("(a+)+"). A group that starts with a literal
        # none of its repeated parts can match ("(/[a-z]+)*") splits one way only.
        if not _unambiguous(nested.group(1)):
            raise CannotEvaluate(f"RE2 regex {pattern!r} nests repetitions that Python's backtracking may take "
                                 "exponential time on; stickyctl does not evaluate it")
    translated = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern)  # RE2 \z is Python's \Z
    try:
        # ASCII: RE2's \d \w \s \b are ASCII-only.
        return re.compile(translated, re.ASCII)
    except (re.error, OverflowError, RecursionError) as exc:
        raise CannotEvaluate(f"regex {pattern!r} is not evaluable here ({exc})") from None


def re2_full_match(pattern: str, value: str) -> bool:
    return compile_re2(pattern).fullmatch(value) is not None


# --- strings, paths, headers, query parameters ------------------------------------------------


def string_match(m: sc.StringMatcher, value: str) -> bool:
    if m.safe_regex is not None:
        return re2_full_match(m.safe_regex.regex, value)
    def fold(text: str) -> str:
        return text.lower() if m.ignore_case else text

    v = fold(value)
    if m.exact is not None:
        return v == fold(m.exact)
    if m.prefix is not None:
        return v.startswith(fold(m.prefix))
    if m.suffix is not None:
        return v.endswith(fold(m.suffix))
    if m.contains is not None:
        return fold(m.contains) in v
    raise CannotEvaluate("a string matcher with no exact/prefix/suffix/contains/safe_regex")


def string_matcher_text(m: sc.StringMatcher) -> str:
    case = " (any case)" if m.ignore_case else ""
    for key in ("exact", "prefix", "suffix", "contains"):
        value = getattr(m, key)
        if value is not None:
            return f"{key} {value!r}{case}"
    return f"regex {m.safe_regex.regex!r}" if m.safe_regex is not None else "?"


def path_only(path: str) -> str:
    """``:path`` without the query string and fragment, as Envoy's path matchers see it."""
    for sep in ("?", "#"):
        path = path.split(sep, 1)[0]
    return path


def path_matches(m: RouteMatcher, path: str) -> bool:
    """Whether the route's path specifier matches ``:path``."""
    p = path_only(path)

    def fold(text: str) -> str:
        return text if m.case_sensitive else text.lower()

    if m.prefix is not None:
        return fold(p).startswith(fold(m.prefix))
    if m.path is not None:
        return fold(p) == fold(m.path)
    if m.safe_regex is not None:
        return re2_full_match(m.safe_regex, p)  # case_sensitive does not apply to regexes
    if m.path_separated_prefix is not None:
        prefix = m.path_separated_prefix
        if not fold(p).startswith(fold(prefix)):
            return False
        return len(p) == len(prefix) or p[len(prefix)] == "/"
    raise CannotEvaluate("a route without prefix, path, safe_regex or path_separated_prefix")


def path_text(m: RouteMatcher) -> str:
    case = "" if m.case_sensitive else ", any case"
    if m.prefix is not None:
        return f"prefix {m.prefix}{case}" if m.prefix else "any path (prefix '')"
    if m.path is not None:
        return f"path {m.path}{case}"
    if m.safe_regex is not None:
        return f"regex {m.safe_regex}"
    if m.path_separated_prefix is not None:
        return f"path_separated_prefix {m.path_separated_prefix}{case}"
    return "?"


def _int64(value: int | str) -> int:
    return int(value)


def header_matches(h: sc.HeaderMatcher, values: Sequence[str]) -> bool:
    if not values and not h.treat_missing_header_as_empty:
        present_kind = h.present_match is not None or _no_specifier(h)
        present = h.present_match if h.present_match is not None else True
        if h.invert_match:
            return present_kind and present
        return present_kind and not present
    value = ",".join(values)
    return _specific(h, value) != h.invert_match


def _no_specifier(h: sc.HeaderMatcher) -> bool:
    return all(getattr(h, k) is None for k in ("exact_match", "safe_regex_match", "range_match", "present_match",
                                                "prefix_match", "suffix_match", "contains_match", "string_match"))


def _specific(h: sc.HeaderMatcher, value: str) -> bool:
    if h.string_match is not None:
        return string_match(h.string_match, value)
    if h.exact_match is not None:
        return not h.exact_match or value == h.exact_match
    if h.safe_regex_match is not None:
        return re2_full_match(h.safe_regex_match.regex, value)
    if h.range_match is not None:
        if not re.fullmatch(r"[+-]?[0-9]{1,19}", value):
            return False
        number = int(value)
        return _int64(h.range_match.start) <= number < _int64(h.range_match.end)
    if h.present_match is not None:
        return h.present_match
    if h.prefix_match is not None:
        return value.startswith(h.prefix_match)
    if h.suffix_match is not None:
        return value.endswith(h.suffix_match)
    if h.contains_match is not None:
        return h.contains_match in value
    return True  # a name alone: the header is present


def header_text(h: sc.HeaderMatcher) -> str:
    if h.string_match is not None:
        what = string_matcher_text(h.string_match)
    elif h.exact_match is not None:
        what = f"exact {h.exact_match!r}"
    elif h.safe_regex_match is not None:
        what = f"regex {h.safe_regex_match.regex!r}"
    elif h.range_match is not None:
        what = f"in [{h.range_match.start}, {h.range_match.end})"
    elif h.present_match is not None:
        what = "present" if h.present_match else "absent"
    elif h.prefix_match is not None:
        what = f"prefix {h.prefix_match!r}"
    elif h.suffix_match is not None:
        what = f"suffix {h.suffix_match!r}"
    elif h.contains_match is not None:
        what = f"contains {h.contains_match!r}"
    else:
        what = "present"
    return f"header {h.name} {'not ' if h.invert_match else ''}{what}"


def query_parameters(path: str) -> list[tuple[str, str]]:
    """The query string's parameters, percent-decoded ('+' stays '+', as Envoy decodes it)."""
    query = path.split("#", 1)[0].partition("?")[2]
    out = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        out.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
    return out


def query_matches(q: sc.QueryParameterMatcher, params: Sequence[tuple[str, str]]) -> bool:
    first = next((v for n, v in params if n == q.name), None)
    if first is None:
        return False
    if q.present_match is not None:
        return q.present_match
    if q.string_match is not None:
        return string_match(q.string_match, first)
    return True


def query_text(q: sc.QueryParameterMatcher) -> str:
    if q.string_match is not None:
        return f"query {q.name} {string_matcher_text(q.string_match)}"
    return f"query {q.name} present"
