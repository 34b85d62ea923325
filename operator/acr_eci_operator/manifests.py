"""Kubernetes manifests read from files, folders or standard input, for the offline commands (lint, plan).

Each YAML document is kept with where it came from (its source, its index in that source, its first line)
and its node tree, so that a finding can name the line of the field it is about. A `kind: List` document
(what `kubectl get -o yaml` prints) gives one manifest per item. Anything that cannot be read as YAML is an
`InputError` naming the source and line: the commands exit 2 on it (unusable input), not 1 (findings).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from acr_eci_operator import models

STDIN = "-"
SUFFIXES = (".yaml", ".yml", ".json")
"""Files a folder is searched for (recursively, in sorted order); a file named explicitly is read whatever
its name."""

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class InputError(Exception):
    """A source that cannot be read as YAML: missing, unreadable, not text, or a syntax error."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object from a source: `document` is its 0-based index among the source's YAML
    documents (`item` its index in a `kind: List`, else None), `line` the 1-based line it starts at."""

    source: str
    document: int
    item: int | None
    line: int
    body: Mapping[str, Any]
    node: yaml.Node

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion") or "")

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        return str(metadata.get("name") or "") if isinstance(metadata, Mapping) else ""

    @property
    def namespace(self) -> str | None:
        metadata = self.body.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        return str(namespace) if namespace else None

    @property
    def is_acr_container_group(self) -> bool:
        group, _, _version = self.api_version.rpartition("/")
        return group == models.GROUP and self.kind == models.KIND

    @property
    def where(self) -> str:
        """`file#document` (and `[item]` inside a List), as findings name it."""
        return f"{self.source}#{self.document}" + ("" if self.item is None else f"[{self.item}]")

    def line_of(self, field: str) -> int:
        """The 1-based line of a field given as the apiserver names it (`spec.containers[0].image`): the
        deepest part of the path present in the document (a missing field is reported where its parent
        is), the document's first line when not even the first part is there."""
        node = self.node
        line = self.line
        for part in parse_field(field):
            child = _child(node, part)
            if child is None:
                break
            node, line = child
        return line


def parse_field(field: str) -> list[str | int]:
    """`spec.containers[0].image` -> ['spec', 'containers', 0, 'image']."""
    return [int(index) if index else name for name, index in _PATH_PART.findall(field)]


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, int] | None:
    if isinstance(part, int) and isinstance(node, yaml.SequenceNode):
        if 0 <= part < len(node.value):
            item = node.value[part]
            return item, item.start_mark.line + 1
        return None
    if isinstance(part, str) and isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value, key.start_mark.line + 1
    return None


def read(paths: Sequence[str], stdin: TextIO | None = None) -> Iterator[Manifest]:
    """Every manifest in the paths, in order: files as given, folders searched for `SUFFIXES`, `-` standard
    input. Raises InputError at the first source that cannot be read."""
    for path in paths:
        if path == STDIN:
            if stdin is None:
                raise InputError(STDIN, None, "standard input is not available")
            yield from parse(stdin.read(), STDIN)
            continue
        for file in _files(path):
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise InputError(str(file), None, "not UTF-8 text") from None
            except OSError as error:
                raise InputError(str(file), None, error.strerror or str(error)) from None
            yield from parse(text, str(file))


def _files(path: str) -> Iterable[Path]:
    location = Path(path)
    if location.is_dir():
        return sorted(
            file for file in location.rglob("*") if file.is_file() and file.suffix.lower() in SUFFIXES
        )
    if not location.exists():
        raise InputError(path, None, "no such file or folder")
    return [location]


def parse(text: str, source: str) -> list[Manifest]:
    """The manifests of one source's text (empty documents and non-mapping documents are skipped)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(source, line, _yaml_message(error)) from None
    except yaml.YAMLError as error:
        raise InputError(source, None, str(error)) from None
    manifests: list[Manifest] = []
    for index, node in enumerate(nodes):
        if node is None:
            continue
        try:
            body = yaml.SafeLoader(text).construct_document(node)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            raise InputError(source, mark.line + 1 if mark else None, _yaml_message(error)) from None
        if not isinstance(body, Mapping):
            continue
        if body.get("kind") == "List" and isinstance(body.get("items"), list):
            items_node = _child(node, "items")
            for item_index, item in enumerate(body["items"]):
                item_node = _child(items_node[0], item_index) if items_node else None
                if isinstance(item, Mapping) and item_node is not None:
                    manifests.append(Manifest(source, index, item_index, item_node[1], item, item_node[0]))
            continue
        manifests.append(Manifest(source, index, None, node.start_mark.line + 1, body, node))
    return manifests


def _yaml_message(error: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (error.context, error.problem) if part]
    return ", ".join(parts) or "not valid YAML"
