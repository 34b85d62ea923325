"""`acr-eci-operator lint`: the examples are clean, every bad resource of tests/lint/bad is found (file, line,
field, message), the formats and exit codes hold, and on every create case of tests/api/cel_cases.py the
linter gives the apiserver's answer (test_lint_server.py asks a real apiserver about tests/lint/bad)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from acr_eci_operator import cel_offline, crd, lint, manifests
from tests.api.cel_cases import ACG, CelCase

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"
UNUSABLE = HERE / "unusable"
EXAMPLES = ROOT / "examples"
COMMAND = str(Path(sys.executable).with_name("acr-eci-operator"))


def run(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The console script, as a user (or pre-commit, or CI) runs it, from the repository's root."""
    return subprocess.run(
        [COMMAND, "lint", *arguments], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def lint_text(text: str, source: str = "test.yaml") -> list[lint.Finding]:
    return lint.lint(manifests.parse(text, source), cel_offline.violations).findings


# (file, line, field, code, a piece of the message); every finding of tests/lint/bad, no more.
EXPECTED = [
    ("annotation.yaml", 7, "metadata.annotations[k8s.aliyun.com/acr-instance-ids]", "annotation", "'testabcd' is not an ACR Enterprise Edition instance id"),
    ("cel.yaml", 7, "spec.containers", "cel", "spec.containers[].volumeMounts[].name must name a volume of spec.volumes"),
    ("cel.yaml", 14, "spec.containers[0].env[0]", "cel", "value and valueFrom are mutually exclusive"),
    ("cel.yaml", 26, "spec.containerGroupName", "cel", "metadata.name is not a valid ECI container group name"),
    ("cel.yaml", 27, "spec.dnsPolicy", "cel", "dnsPolicy None needs at least one name server"),
    ("metadata.yaml", 2, "apiVersion", "api-version", "eci.acr-operator.dev/v1beta1: the CRD serves eci.acr-operator.dev/v1alpha1 only"),
    ("metadata.yaml", 14, "metadata.name", "metadata.pattern", '"Web_1" is not a lowercase RFC 1123 subdomain'),
    ("metadata.yaml", 16, "metadata.labels[tier]", "metadata.pattern", '"front end" is not a label value'),
    ("metadata.yaml", 17, "spec.containerGroupName", "cel", "metadata.name is not a valid ECI container group name"),
    ("metadata.yaml", 21, "spec.containers[0].image", "duplicate-field", "given twice"),
    ("operator.yaml", 19, "spec.securityContext.sysctls[0]", "cel", "ECI does not allow setting kernel.shm_rmid_forced"),
    ("operator.yaml", 31, "spec.containers[1].image", "registry-access", "no AcrRegistryInfo entry or imageRegistryCredentials covers demoabcd-registry-vpc.cn-beijing.cr.aliyuncs.com (entry 0: instanceName testabcd is not the image's instance demoabcd)"),
    ("operator.yaml", 41, "metadata.annotations[k8s.aliyun.com/acr-instance-id]", "parameters", "11 ACR instances in all with spec.acrRegistryInfos; at most 10"),
    ("schema.yaml", 7, "spec.restartPolicy", "schema.enum", 'must be one of "Always", "OnFailure", "Never", not "Sometimes"'),
    ("schema.yaml", 8, "spec.cpu", "schema.maximum", "must be at most 64.0 (is 128)"),
    ("schema.yaml", 13, "spec.containers[0].ports[0].containerPort", "schema.type", 'must be of type integer, not string "eighty"'),
    ("schema.yaml", 23, "spec.containers[0].imagePullPolcy", "schema.unknown-field", 'unknown field "imagePullPolcy"'),
    ("schema.yaml", 25, "spec.acrRegistryInfos[0].instanceId", "schema.pattern", '"CRI-UPPERCASE" does not match ^cri-[a-z0-9]+$'),
    ("schema.yaml", 35, "spec.containers[1]", "schema.duplicate", 'duplicate entry name "web": the same as spec.containers[0]'),
    ("schema.yaml", 37, "spec.vSwitchIds", "schema.maxItems", "must have at most 10 items (has 11)"),
]  # fmt: skip


def test_every_example_is_clean() -> None:
    result = run("examples")
    assert result.returncode == 0, result.stdout + result.stderr
    # The one deliberately broken example draws the operator's warning, not an error.
    assert result.stdout.splitlines() == [
        "examples/missing-registry-info.yaml:12: warning: AcrContainerGroup missing-registry-info (document 0): "
        "spec.containers[0].image: testabcd-registry.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0: no "
        "AcrRegistryInfo entry or imageRegistryCredentials covers testabcd-registry.cn-beijing.cr.aliyuncs.com "
        "(the pull fails unless the instance belongs to the same account)"
    ]
    checked = sum(m.is_acr_container_group for m in manifests.read([str(EXAMPLES)]))
    assert (
        result.stderr.strip()
        == f"acr-eci-operator lint: {checked} AcrContainerGroups checked: 0 errors, 1 warning"
    )
    assert checked == len(list(EXAMPLES.glob("*.yaml")))
    strict = run("--strict", "examples/missing-registry-info.yaml")
    assert strict.returncode == 1


def test_every_bad_resource_is_found_by_file_line_field_and_message() -> None:
    result = run("--format", "json", "tests/lint/bad")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    found = [(Path(f["source"]).name, f["line"], f["field"], f["code"], f["message"]) for f in findings]
    assert [entry[:4] for entry in found] == [entry[:4] for entry in EXPECTED]
    for (*_, message), (*_, fragment) in zip(found, EXPECTED, strict=True):
        assert fragment in message
    assert {f["severity"] for f in findings if f["code"] != "registry-access"} == {"error"}
    assert findings[11]["severity"] == "warning"
    assert set(findings[0]) == {
        "source", "document", "item", "line", "kind", "namespace", "name", "field", "message", "severity", "code",
    }  # fmt: skip
    assert findings[0]["source"] == "tests/lint/bad/annotation.yaml"
    assert (findings[-1]["document"], findings[-1]["name"]) == (2, "twice-the-same")


def test_the_text_format() -> None:
    result = run("tests/lint/bad/cel.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == (
        "tests/lint/bad/cel.yaml:14: error: AcrContainerGroup dangling-mount (document 0): "
        "spec.containers[0].env[0]: value and valueFrom are mutually exclusive"
    )
    assert (
        result.stderr.strip() == "acr-eci-operator lint: 2 AcrContainerGroups checked: 4 errors, 0 warnings"
    )


def test_the_github_format_is_one_workflow_command_per_finding() -> None:
    result = run("--format", "github", "tests/lint/bad/schema.yaml", "tests/lint/bad/operator.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::error file=tests/lint/bad/schema.yaml,line=7,title=acr-eci-lint::spec.restartPolicy: must be one of "
        '"Always", "OnFailure", "Never", not "Sometimes"',
        "::error file=tests/lint/bad/schema.yaml,line=8,title=acr-eci-lint::spec.cpu: must be at most 64.0 (is 128)",
        "::error file=tests/lint/bad/schema.yaml,line=13,title=acr-eci-lint::spec.containers[0].ports[0]"
        '.containerPort: must be of type integer, not string "eighty"',
        "::error file=tests/lint/bad/schema.yaml,line=23,title=acr-eci-lint::spec.containers[0].imagePullPolcy: "
        'unknown field "imagePullPolcy"',
        "::error file=tests/lint/bad/schema.yaml,line=25,title=acr-eci-lint::spec.acrRegistryInfos[0].instanceId: "
        '"CRI-UPPERCASE" does not match ^cri-[a-z0-9]+$',
        "::error file=tests/lint/bad/schema.yaml,line=35,title=acr-eci-lint::spec.containers[1]: duplicate entry "
        'name "web": the same as spec.containers[0]',
        "::error file=tests/lint/bad/schema.yaml,line=37,title=acr-eci-lint::spec.vSwitchIds: must have at most 10 "
        "items (has 11)",
        "::error file=tests/lint/bad/operator.yaml,line=19,title=acr-eci-lint::spec.securityContext.sysctls[0]: ECI "
        "does not allow setting kernel.shm_rmid_forced or net.ipv4.tcp_syncookies",
        "::warning file=tests/lint/bad/operator.yaml,line=31,title=acr-eci-lint::spec.containers[1].image: "
        "demoabcd-registry-vpc.cn-beijing.cr.aliyuncs.com/eci_test/nginx:1.0: no AcrRegistryInfo entry or "
        "imageRegistryCredentials covers demoabcd-registry-vpc.cn-beijing.cr.aliyuncs.com (entry 0: instanceName "
        "testabcd is not the image's instance demoabcd) (the pull fails unless the instance belongs to the same "
        "account)",
        "::error file=tests/lint/bad/operator.yaml,line=41,title=acr-eci-lint::metadata.annotations"
        "[k8s.aliyun.com/acr-instance-id]: 11 ACR instances in all with spec.acrRegistryInfos; at most 10 "
        "AcrRegistryInfo entries can be sent",
    ]


def test_workflow_commands_escape_what_github_documents() -> None:
    assert (
        lint.workflow_command(
            "error", {"file": "a,b:c%.yaml", "line": "3", "title": "t"}, "50% off\r\nnext: a,b"
        )
        == "::error file=a%2Cb%3Ac%25.yaml,line=3,title=t::50%25 off%0D%0Anext: a,b"
    )


def test_standard_input() -> None:
    text = (BAD / "cel.yaml").read_text()
    result = run("-", stdin=text)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "<stdin>:7: error: AcrContainerGroup dangling-mount (document 0): spec.containers: "
        "spec.containers[].volumeMounts[].name must name a volume of spec.volumes"
    )
    github = run("--format", "github", "-", stdin=text)
    # No file to annotate: the message says where.
    assert github.stdout.splitlines()[0] == (
        "::error title=acr-eci-lint::<stdin>:7: AcrContainerGroup dangling-mount (document 0): spec.containers: "
        "spec.containers[].volumeMounts[].name must name a volume of spec.volumes"
    )
    clean = run("-", stdin=(EXAMPLES / "config-files.yaml").read_text())
    assert (clean.returncode, clean.stdout) == (0, "")


def test_unusable_input_exits_2_naming_the_source_and_line(tmp_path: Path) -> None:
    syntax = run("tests/lint/unusable/syntax-error.yaml", "tests/lint/bad/cel.yaml")
    assert syntax.returncode == 2
    assert (
        "acr-eci-operator lint: tests/lint/unusable/syntax-error.yaml:9: while parsing a flow sequence, "
        "expected ',' or ']', but got ':' (unusable input)"
    ) in syntax.stderr.splitlines()
    assert len(syntax.stdout.splitlines()) == 4, "the other files are still checked"
    github = run("--format", "github", "tests/lint/unusable")
    assert github.stdout.splitlines() == [
        "::error file=tests/lint/unusable/syntax-error.yaml,line=9,title=acr-eci-lint::unusable input: while "
        "parsing a flow sequence, expected ',' or ']', but got ':'"
    ]
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00kind: x")
    unreadable = run(str(tmp_path / "binary.yaml"), str(tmp_path / "absent.yaml"))
    assert unreadable.returncode == 2
    assert (
        f"acr-eci-operator lint: {tmp_path}/binary.yaml: not UTF-8 text (unusable input)" in unreadable.stderr
    )
    assert f"acr-eci-operator lint: {tmp_path}/absent.yaml: no such file or folder (unusable input)" in (
        unreadable.stderr
    )


def test_without_cel_python_lint_exits_2_saying_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['celpy'] = None\n"
        "from acr_eci_operator.cli import main\n"
        "raise SystemExit(main(['lint', 'examples']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert result.returncode == 2
    assert "pip install 'acr-eci-operator[lint]'" in result.stderr


def test_other_kinds_lists_and_generate_name() -> None:
    text = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: Not_Checked}
  - apiVersion: eci.acr-operator.dev/v1alpha1
    kind: AcrContainerGroup
    metadata:
      generateName: job-
      namespace: prod
    spec:
      containers:
        - name: web
          image: nginx
          imagee: typo
"""
    (finding,) = lint_text(text)
    assert (finding.line, finding.field, finding.resource) == (
        16,
        "spec.containers[0].imagee",
        "AcrContainerGroup prod/ (document 0, item 1)",
    )


def test_schema_errors_that_stop_the_apiserver_s_cel_rules_stop_the_linter_s() -> None:
    """An unsupported enum value blocks CEL on the server (`hasBlockingErr`); a pattern does not."""
    spec = "  containers: [{name: web, image: nginx, env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]}]\n"
    head = (
        "apiVersion: eci.acr-operator.dev/v1alpha1\nkind: AcrContainerGroup\nmetadata: {name: web}\nspec:\n"
    )
    assert [f.code for f in lint_text(head + spec + "  restartPolicy: Sometimes\n")] == ["schema.enum"]
    assert [f.code for f in lint_text(head + spec + "  zoneId: Not-A-Zone\n")] == ["cel", "schema.pattern"]


def test_the_region_option_checks_spec_region_id() -> None:
    text = (
        "apiVersion: eci.acr-operator.dev/v1alpha1\nkind: AcrContainerGroup\nmetadata: {name: far}\n"
        "spec:\n  regionId: cn-hangzhou\n  containers: [{name: web, image: nginx}]\n"
    )
    assert lint_text(text) == []
    found = lint.lint(manifests.parse(text, "x.yaml"), cel_offline.violations, region="cn-beijing").findings
    assert [(f.line, f.field, f.code) for f in found] == [(5, "spec.regionId", "parameters")]


# ------------------------------------------------------------ the apiserver's answer, case by case

CREATE_CASES = [case for case in ACG.cases if case.old is None]


@pytest.mark.parametrize("case", CREATE_CASES, ids=[case.id for case in CREATE_CASES])
def test_lint_gives_the_apiserver_s_answer_to_each_create_case(case: CelCase) -> None:
    """tests/api/cel_cases.py's verdicts hold on apiextensions-apiserver 1.36 (test_api_cel_server.py): the
    linter's admission layer names the same fields."""
    text = yaml.safe_dump(ACG.resource(case, case.new))
    (manifest,) = manifests.parse(text, "case.yaml")
    problems = lint.admission(manifest, cel_offline.violations)
    expected = sorted([*([case.field] if case.field else []), *case.server_also])
    assert sorted(problem.field for problem in problems) == expected, problems
    if case.field is not None:
        assert any(case.message in problem.message for problem in problems if problem.field == case.field)


def test_every_create_time_cel_rule_is_refused_by_the_linter_somewhere() -> None:
    """Every rule of the CRD that can fire on a create (no oldSelf) refused some create case through the
    linter: the linter enforces the rules the apiserver does."""
    refused: set[str] = set()

    def recording(schema: Any, value: Any) -> list[cel_offline.Violation]:
        found = cel_offline.violations(schema, value)
        refused.update(violation.rule for violation in found)
        return found

    for case in CREATE_CASES:
        (manifest,) = manifests.parse(yaml.safe_dump(ACG.resource(case, case.new)), "case.yaml")
        lint.admission(manifest, recording)
    create_rules = {
        rule["rule"] for rule in cel_offline.rules(crd.open_api_schema()) if "oldSelf" not in rule["rule"]
    }
    assert create_rules - refused == set()
    assert create_rules


# ------------------------------------------------------------------------------------ pre-commit


def test_the_pre_commit_hook_installs_the_lint_extra() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == lint.TITLE
    assert hook["entry"] == "acr-eci-operator lint"
    assert hook["language"] == "python"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert hook["additional_dependencies"] == extras["lint"]
    assert set(extras["lint"]) <= set(extras["test"])
    import re

    files = re.compile(hook["files"])
    assert all(files.search(name) for name in ("a.yaml", "b/c.yml", "d.json"))
    assert not any(files.search(name) for name in ("a.txt", "yaml.md", "Chart.lock"))


def test_lint_reads_from_the_stream_it_is_given() -> None:
    """(in process: main's stdin and stdout are parameters)"""
    args = lint_args("-")
    out = io.StringIO()
    assert lint.main(args, stdin=io.StringIO((BAD / "annotation.yaml").read_text()), out=out) == 1
    assert out.getvalue().startswith("<stdin>:7: error: AcrContainerGroup bad-annotation (document 0): ")


def lint_args(*arguments: str) -> Any:
    from acr_eci_operator.cli import build_parser

    return build_parser().parse_args(["lint", *arguments])
