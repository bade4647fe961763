"""The ``label_selector`` query language of CF (a subset of Kubernetes' label selectors).

Supported requirements, comma-separated (all must hold): ``key``, ``!key``, ``key=value``,
``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cfsim.errors import bad_query

Requirement = Callable[[dict[str, str]], bool]

_SET_RE = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)([^\s!=(),]+)\s*$")


def _split_requirements(selector: str) -> list[str]:
    """Split on commas that are not inside the parentheses of an ``in``/``notin`` set."""
    parts, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_one(text: str) -> Requirement:
    if match := _SET_RE.match(text):
        key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_RE.match(text):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_RE.match(text):
        negate, key = match.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_query(f"Invalid label_selector value: {text!r}")


def parse_selector(selector: str) -> Requirement:
    """Compile a selector into a predicate over a resource's labels; 400 on malformed input."""
    if not selector.strip():
        raise bad_query("Missing label_selector value")
    requirements = [_parse_one(part) for part in _split_requirements(selector)]
    return lambda labels: all(req(labels) for req in requirements)
