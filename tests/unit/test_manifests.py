"""Reading manifests for the offline commands: documents, Lists, lines of fields, unusable input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from acr_eci_operator import manifests

TEXT = """\
---
apiVersion: eci.acr-operator.dev/v1alpha1
kind: AcrContainerGroup
metadata:
  name: web
spec:
  containers:
    - name: app
      image: registry.example.com/app:1
---
# an empty document is skipped
---
kind: List
apiVersion: v1
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
  - apiVersion: eci.acr-operator.dev/v1alpha1
    kind: AcrContainerGroup
    metadata:
      name: job
"""


def test_documents_and_list_items_keep_where_they_come_from() -> None:
    found = manifests.parse(TEXT, "app.yaml")
    assert [(m.where, m.line, m.kind, m.name, m.is_acr_container_group) for m in found] == [
        ("app.yaml#0", 2, "AcrContainerGroup", "web", True),
        ("app.yaml#2[0]", 16, "ConfigMap", "settings", False),
        ("app.yaml#2[1]", 19, "AcrContainerGroup", "job", True),
    ]


def test_a_field_is_found_at_its_line_and_a_missing_one_at_its_parents() -> None:
    web = manifests.parse(TEXT, "app.yaml")[0]
    assert web.line_of("spec.containers[0].image") == 9
    assert web.line_of("spec.containers[0]") == 8
    assert web.line_of("spec.containers[3].image") == 7
    assert web.line_of("spec.volumes") == 6
    assert web.line_of("status") == 2
    assert manifests.parse_field("spec.containers[10].env[2].name") == [
        "spec",
        "containers",
        10,
        "env",
        2,
        "name",
    ]


def test_a_yaml_syntax_error_names_its_line() -> None:
    with pytest.raises(manifests.InputError) as raised:
        manifests.parse("kind: AcrContainerGroup\nmetadata:\n  name: [a\n  x: y\n", "bad.yaml")
    assert raised.value.source == "bad.yaml"
    assert raised.value.line == 4


def test_folders_are_searched_for_yaml_and_stdin_is_read(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.yml").write_text("kind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "a.yaml").write_text("kind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "notes.txt").write_text("not: read\n")
    names = [
        m.name
        for m in manifests.read([str(tmp_path), "-"], io.StringIO("kind: Secret\nmetadata: {name: c}\n"))
    ]
    assert names == ["a", "b", "c"]


def test_a_missing_or_binary_file_is_unusable_input(tmp_path: Path) -> None:
    with pytest.raises(manifests.InputError, match="no such file"):
        list(manifests.read([str(tmp_path / "absent.yaml")]))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(manifests.InputError, match="not UTF-8"):
        list(manifests.read([str(tmp_path / "binary.yaml")]))
