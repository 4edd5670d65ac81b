"""Safe YAML reading that remembers the line of every key, and `--set path=value` edits.

This is the only module that imports yaml.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from archsim.spec.schema import Path, Problems


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads exponent floats without a dot (`1e-3`, `5E4`) as numbers,
    as YAML 1.2 and every researcher do; PyYAML's YAML 1.1 rules leave them strings."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def read_yaml(text: str, problems: Problems) -> Any:
    """Parse YAML safely into plain data, recording the line of each path in `problems.lines`.

    Paths are recorded without the document's root name; `load` prefixes them. Syntax
    errors, duplicate keys and an empty document are reported as located problems.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            problems.messages.append(f"{problems.file}: is empty; expected a YAML mapping")
            return None
        return _plain(node, (), loader, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{problems.file}:{mark.line + 1}" if mark else problems.file
        problems.messages.append(f"{where}: is not valid YAML: {exc.problem or exc.context}")
        return None
    except yaml.YAMLError as exc:
        problems.messages.append(f"{problems.file}: is not valid YAML: {exc}")
        return None
    finally:
        loader.dispose()


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap")


def _plain(node: yaml.Node, path: Path, loader: _Loader, problems: Problems) -> Any:
    problems.lines[path] = node.start_mark.line + 1
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise yaml.MarkedYAMLError(problem=f"the tag {node.tag} is not allowed (specs are plain data)",
                                   problem_mark=node.start_mark)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise yaml.MarkedYAMLError(problem="mapping keys must be plain words",
                                           problem_mark=key_node.start_mark)
            if key in out:
                raise yaml.MarkedYAMLError(problem=f"key {key!r} appears twice",
                                           problem_mark=key_node.start_mark)
            key = str(key)
            problems.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, path + (key,), loader, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, path + (i,), loader, problems) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


_SET = re.compile(r"^([A-Za-z_][\w]*(?:(?:\.[A-Za-z_][\w]*)|(?:\[\d+\]))*)=(.*)$", re.S)


def parse_set(text: str) -> tuple[list[str | int], Any]:
    """Split 'a.b[2].c=value' into (['a', 'b', 2, 'c'], value parsed as a YAML scalar)."""
    match = _SET.match(text)
    if not match:
        raise ValueError(f"--set {text!r} must look like path.to.key=value, e.g. seed=3 "
                         f"or hardware.tiles.adc.bits=8")
    keys: list[str | int] = []
    for part in re.findall(r"[A-Za-z_]\w*|\[\d+\]", match.group(1)):
        keys.append(int(part[1:-1]) if part.startswith("[") else part)
    try:
        value = yaml.load(match.group(2), Loader=_Loader) if match.group(2).strip() else ""
    except yaml.YAMLError:
        value = match.group(2)
    return keys, value


def apply_set(raw: Any, keys: list[str | int], value: Any) -> Any:
    """Return `raw` with the value at `keys` replaced (intermediate mappings created)."""
    if not keys:
        return value
    head, rest = keys[0], keys[1:]
    if isinstance(head, int):
        if not isinstance(raw, list) or not -len(raw) <= head < len(raw):
            raise ValueError(f"index [{head}] does not exist")
        out = list(raw)
        out[head] = apply_set(out[head], rest, value)
        return out
    out = dict(raw) if isinstance(raw, dict) else {}
    out[head] = apply_set(out.get(head), rest, value)
    return out
