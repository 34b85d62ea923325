"""`acr-eci-operator lint PATH...`: every AcrContainerGroup in files, folders or standard input checked
offline, before it reaches a cluster.

Each resource goes through two layers, in the order a cluster would take it:

1. what the apiserver refuses on a create (`admission`): the apiVersion's version, keys given twice
   (kubectl's strict decoding), ObjectMeta's rules, the CRD's structural schema (`schema_check`, over the
   schema `crd` generates from the models) and its CEL rules (`cel_offline`, cel-python), unless a schema
   error stops them, as it stops the apiserver's (`schema_check.BLOCKING`: fix those first, then lint
   again). Transition rules (those reading `oldSelf`) cannot fire on a create and are not run.
2. what the operator refuses or warns about once the resource is stored (`operator_checks`), run only on
   a resource the apiserver would accept (the operator never sees another): the k8s.aliyun.com/acr-instance-id(s)
   annotations, the operator's own parse of the spec (`AcrContainerGroupSpec.from_dict`: the few rules the
   schema cannot state, such as sysctl names), the wire parameters (`mapping.create_parameters`, with
   placeholders for every Secret and ConfigMap, which cannot be read offline, and for the operator's
   settings: its region, default security group and vSwitches are taken as set), and images on ACR
   Enterprise Edition domains that no AcrRegistryInfo entry covers: a warning, as the operator's
   RegistryAccess condition is (ECI may still pull them).

Other kinds are skipped. Exit status: 0 clean (warnings allowed, unless --strict), 1 findings, 2 unusable
input (a file that cannot be read, a YAML syntax error) or cel-python missing.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TextIO

from acr_eci_operator import crd, manifests, mapping, models, schema_check
from acr_eci_operator.manifests import InputError, Manifest

if TYPE_CHECKING:
    from acr_eci_operator.cel_offline import Violation

Severity = Literal["error", "warning"]
FORMATS = ("text", "json", "github")
TITLE = "acr-eci-lint"
"""The title of every GitHub annotation (and the pre-commit hook's id)."""
STDIN_NAME = "<stdin>"
"""How text output names standard input (JSON keeps `-`, as given on the command line)."""
INSTALL_HINT = "pip install 'acr-eci-operator[lint]'"
GENERATED_NAME_SUFFIX = "x2b7k"
"""Stands in for the 5 characters the apiserver appends to metadata.generateName."""

CelRules = Callable[[Mapping[str, Any], Mapping[str, Any]], "list[Violation]"]
"""`cel_offline.violations` for a create: (openAPIV3Schema, object) -> the rules it breaks."""


class CelUnavailable(Exception):
    """cel-python is not installed (the operator's image leaves it out; the `lint` extra has it)."""


def load_cel_rules() -> CelRules:
    try:
        from acr_eci_operator import cel_offline
    except ImportError as error:
        raise CelUnavailable(
            f"the CEL rules need cel-python ({error}): install it with {INSTALL_HINT}"
        ) from None
    return cel_offline.violations


@dataclass(frozen=True)
class Finding:
    """Something wrong with one resource: where (source, document index, item index inside a `kind: List`,
    line), which resource, which field (as the apiserver names it), what, how bad, and which check
    (`code`: `schema.<keyword>`, `cel`, `metadata.<keyword>`, `api-version`, `duplicate-field`,
    `annotation`, `spec`, `parameters`, `registry-access`)."""

    source: str
    document: int
    item: int | None
    line: int
    kind: str
    namespace: str | None
    name: str
    field: str
    message: str
    severity: Severity
    code: str

    @property
    def resource(self) -> str:
        """`AcrContainerGroup prod/web (document 0)`, `(document 2, item 1)` inside a List."""
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name or "(no name)"
        place = f"document {self.document}" + ("" if self.item is None else f", item {self.item}")
        return f"{self.kind} {name} ({place})"

    @property
    def shown_source(self) -> str:
        return STDIN_NAME if self.source == manifests.STDIN else self.source

    def text(self) -> str:
        """`examples/web.yaml:12: error: AcrContainerGroup web (document 0): spec.containers[0].image: ...`"""
        return (
            f"{self.shown_source}:{self.line}: {self.severity}: {self.resource}: {self.field}: {self.message}"
        )

    def github(self) -> str:
        """A GitHub Actions workflow command: `::error file=PATH,line=N,title=acr-eci-lint::FIELD: MESSAGE`.
        Standard input has no file to annotate: the message then carries the text line."""
        if self.source == manifests.STDIN:
            located = f"{STDIN_NAME}:{self.line}: {self.resource}: {self.field}: {self.message}"
            return workflow_command(self.severity, {"title": TITLE}, located)
        properties = {"file": self.source, "line": str(self.line), "title": TITLE}
        return workflow_command(self.severity, properties, f"{self.field}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def workflow_command(command: str, properties: Mapping[str, str], message: str) -> str:
    """`::command key=value,...::message`, escaped as GitHub's runner (and @actions/core) expects: `%`,
    CR and LF in the message; those and `:` and `,` in property values."""
    shown = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return (
        f"::{command} {shown}::{_escape_data(message)}" if shown else f"::{command}::{_escape_data(message)}"
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# ----------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Problem:
    """A finding before it is placed: field, message, code, severity (and the line, when it is not the
    field's: a key given twice is reported where it is repeated)."""

    field: str
    message: str
    code: str
    severity: Severity = "error"
    line: int | None = None


def check(manifest: Manifest, cel_rules: CelRules, region: str | None = None) -> list[Finding]:
    """The findings of one AcrContainerGroup, sorted by line (`region`: see `operator_checks`)."""
    problems = admission(manifest, cel_rules)
    problems += operator_checks(manifest, admitted=not problems, region=region)
    findings = [
        Finding(
            source=manifest.source,
            document=manifest.document,
            item=manifest.item,
            line=problem.line or manifest.line_of(problem.field),
            kind=manifest.kind,
            namespace=manifest.namespace,
            name=manifest.name,
            field=problem.field,
            message=problem.message,
            severity=problem.severity,
            code=problem.code,
        )
        for problem in problems
    ]
    return sorted(findings, key=lambda finding: finding.line)


def admission(manifest: Manifest, cel_rules: CelRules) -> list[Problem]:
    """What the apiserver refuses when the resource is created (kubectl's strict field validation on)."""
    _group, _, version = manifest.api_version.rpartition("/")
    if version != models.VERSION:
        return [
            Problem(
                "apiVersion",
                f"{manifest.api_version}: the CRD serves {models.API_VERSION} only (no other version exists)",
                "api-version",
            )
        ]
    problems = [
        Problem(
            field,
            "given twice (YAML keeps the last; kubectl refuses the object)",
            "duplicate-field",
            line=line,
        )
        for field, line in manifests.duplicate_keys(manifest)
    ]
    metadata = manifest.body.get("metadata")
    problems += [
        Problem(error.field, error.message, f"metadata.{error.code}")
        for error in schema_check.metadata_errors(metadata)
    ]
    schema = _schema()
    errors, kept = schema_check.check(schema, manifest.body)
    problems += [Problem(error.field, error.message, f"schema.{error.code}") for error in errors]
    kept["metadata"] = {"name": manifest.name or _generate_name(metadata)}
    if any(error.code in schema_check.BLOCKING for error in errors):
        return problems  # the apiserver runs no CEL rule then either
    for violation in cel_rules(schema, kept):
        # A rule that could not be evaluated reads a field already reported (missing or of another type).
        if violation.evaluated or not problems:
            problems.append(Problem(violation.field, violation.message, "cel"))
    return problems


@functools.cache
def _schema() -> Mapping[str, Any]:
    """The CRD's schema, generated once per run (read, never changed)."""
    return crd.open_api_schema()


class _AnyKey(Mapping[str, bytes]):
    """A Secret's or ConfigMap's data that has every key, each empty: they cannot be read offline, so
    nothing about them is a finding."""

    def __getitem__(self, key: str) -> bytes:
        return b""

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _generate_name(metadata: Any) -> str:
    """The name the apiserver would give a resource created with metadata.generateName."""
    prefix = metadata.get("generateName") if isinstance(metadata, Mapping) else None
    return f"{prefix}{GENERATED_NAME_SUFFIX}" if isinstance(prefix, str) and prefix else ""


def operator_checks(manifest: Manifest, *, admitted: bool, region: str | None = None) -> list[Problem]:
    """What the operator refuses (Synced=False, InvalidSpec) or warns about (RegistryAccess=False) once the
    resource is stored. The annotations are checked whenever they are a map of strings; the spec only when
    the apiserver would accept the resource (`admitted`). `region` is the operator's
    ALIBABA_CLOUD_REGION_ID when known (a spec.regionId elsewhere then needs its own security group and
    vSwitches); the operator's default security group and vSwitches are taken as set."""
    metadata = manifest.body.get("metadata")
    raw_annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    annotations = (
        {str(key): value for key, value in raw_annotations.items()}
        if isinstance(raw_annotations, Mapping)
        and all(isinstance(value, str) for value in raw_annotations.values())
        else {}
    )
    try:
        models.annotation_registries(annotations)
    except models.SpecError as error:
        return [Problem(error.field, error.message, "annotation")]
    if not admitted:
        return []
    try:
        spec = models.AcrContainerGroupSpec.from_dict(manifest.body.get("spec") or {})
    except models.SpecError as error:
        return [Problem(error.field, error.message, "spec")]
    objects = {(ref.kind, ref.name): _AnyKey() for ref in models.references(spec)}
    name = manifest.name or _generate_name(metadata)
    try:
        mapping.create_parameters(
            spec,
            name=name,
            annotations=annotations,
            defaults=mapping.Defaults(
                region_id=region or spec.region_id or "",
                security_group_id="sg-lint",
                v_switch_ids=("vsw-lint",),
            ),
            objects=objects,
            client_token="-",
            owner_tags={},  # the operator's three tags: never a reason to refuse
        )
    except models.SpecError as error:
        return [Problem(error.field, error.message, "parameters")]
    return [
        Problem(
            image.field, f"{image.problem} ({mapping.UNCOVERED_CONSEQUENCE})", "registry-access", "warning"
        )
        for image in mapping.uncovered_acr_images(spec, annotations)
    ]


@dataclass
class Result:
    """What a run found: the findings, the sources that could not be read, how many resources were checked."""

    findings: list[Finding]
    unusable: list[InputError]
    checked: int


def lint(found: Iterable[Manifest | InputError], cel_rules: CelRules, region: str | None = None) -> Result:
    """The findings of every AcrContainerGroup read (other kinds are skipped)."""
    result = Result([], [], 0)
    for manifest in found:
        if isinstance(manifest, InputError):
            result.unusable.append(manifest)
        elif manifest.is_acr_container_group:
            result.findings += check(manifest, cel_rules, region)
            result.checked += 1
    return result


# --------------------------------------------------------------------------------------------- CLI


def add_parser(commands: Any) -> None:
    """The `lint` subcommand, on `acr-eci-operator`'s subparsers."""
    parser = commands.add_parser(
        "lint",
        help="check AcrContainerGroup manifests offline (schema, CEL rules, the operator's own checks)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a file, a folder (searched for .yaml, .yml and .json) or - for standard input",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default): one line per finding; json: a list of objects; github: workflow commands "
        "that GitHub Actions shows as annotations",
    )
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.add_argument(
        "--region",
        metavar="REGION_ID",
        help="the operator's ALIBABA_CLOUD_REGION_ID: a spec.regionId elsewhere must then set "
        "spec.securityGroupId and spec.vSwitchIds (unknown by default: not checked)",
    )


def main(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    try:
        cel_rules = load_cel_rules()
    except CelUnavailable as error:
        print(f"acr-eci-operator lint: {error}", file=sys.stderr)
        return 2
    result = lint(manifests.read_each(args.paths, stdin), cel_rules, args.region)
    report(result.findings, result.unusable, args.format, out)
    errors = sum(finding.severity == "error" for finding in result.findings)
    warnings = len(result.findings) - errors
    print(
        f"acr-eci-operator lint: {_count(result.checked, models.KIND)} checked: {_count(errors, 'error')}, "
        f"{_count(warnings, 'warning')}"
        + (f", {_count(len(result.unusable), 'unusable input')}" if result.unusable else ""),
        file=sys.stderr,
    )
    if result.unusable:
        return 2
    return 1 if errors or (warnings and args.strict) else 0


def report(findings: Sequence[Finding], unusable: Sequence[InputError], form: str, out: TextIO) -> None:
    for error in unusable:
        print(f"acr-eci-operator lint: {error} (unusable input)", file=sys.stderr)
    if form == "json":
        json.dump([finding.to_dict() for finding in findings], out, indent=2)
        out.write("\n")
        return
    for error in unusable:
        if form == "github" and error.source != manifests.STDIN:
            line = {} if error.line is None else {"line": str(error.line)}
            properties = {"file": error.source, **line, "title": TITLE}
            print(workflow_command("error", properties, f"unusable input: {error.message}"), file=out)
    for finding in findings:
        print(finding.github() if form == "github" else finding.text(), file=out)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
