"""The command line: scope is required, settings are validated before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from acr_eci_operator.cli import build_parser, main


def test_a_scope_is_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run"])
    args = build_parser().parse_args(["run", "-n", "a", "-n", "b", "--standalone"])
    assert args.namespace == ["a", "b"] and args.standalone and not args.all_namespaces


def test_standalone_and_peering_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "-A", "--standalone", "--peering", "p"])


def test_a_bad_setting_stops_start_up_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-x")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s3cret-value-x")
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-beijing")
    monkeypatch.setenv("ECI_POLL_INTERVAL_SECONDS", "often")
    assert main(["run", "--all-namespaces"]) == 2
    error = capsys.readouterr().err
    assert "ECI_POLL_INTERVAL_SECONDS" in error and "s3cret-value-x" not in error


def test_without_any_credential_source_start_up_stops_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ACR_ECI_CREDENTIALS_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-beijing")
    assert main(["run", "--all-namespaces"]) == 2
    error = capsys.readouterr().err
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ACR_ECI_CREDENTIALS_DIR", "ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
        assert name in error


def test_unusable_credential_files_stop_start_up_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "accessKeyId").write_text("LTAI-x")
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", raising=False)
    monkeypatch.setenv("ACR_ECI_CREDENTIALS_DIR", str(tmp_path))
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-beijing")
    assert main(["run", "--all-namespaces"]) == 2
    assert f"{tmp_path}/accessKeySecret is missing or empty" in capsys.readouterr().err
