from __future__ import annotations

import pytest

from acr_eci_operator.settings import DOCUMENTED_LIMITS, RateLimit, Settings, SettingsError

BASE = {"ALIBABA_CLOUD_REGION_ID": "cn-beijing"}
"""Credentials are not Settings' business (tests/unit/test_credentials.py)."""


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env(BASE)
    assert settings.region_id == "cn-beijing"
    assert settings.endpoint is None and settings.endpoint_protocol == "https"
    assert (settings.poll_interval, settings.status_poll_interval) == (60.0, 2.5)
    assert settings.limit("CreateContainerGroup") == RateLimit(20.0, 100)
    assert settings.limit("DeleteContainerGroup") == RateLimit(20.0, 100)
    assert settings.limit("UpdateContainerGroup") == RateLimit(1000 / 60, 100)
    assert settings.limit("RestartContainerGroup") == RateLimit(1000 / 60, 100)
    assert settings.limit("DescribeContainerGroups") == RateLimit(2000 / 60, 100)
    assert settings.limit("DescribeContainerGroupStatus") == RateLimit(10000 / 60, 200)
    assert settings.limit("SomeOtherAction") == RateLimit(1000 / 60, 100)
    assert settings.client_token_trust == 300.0
    assert settings.log_format == "text" and settings.log_level == "INFO"


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "ECI_ENDPOINT": "http://127.0.0.1:8085",
            "ECI_DEFAULT_SECURITY_GROUP_ID": "sg-abc",
            "ECI_DEFAULT_VSWITCH_IDS": "vsw-a, vsw-b",
            "ECI_POLL_INTERVAL_SECONDS": "2.5",
            "ECI_STATUS_POLL_INTERVAL_SECONDS": "0.5",
            "ECI_MUTATE_RATE_PER_SECOND": "5",
            "ECI_MUTATE_BURST": "10",
            "ECI_DESCRIBE_RATE_PER_SECOND": "7",
            "ECI_DESCRIBE_BURST": "20",
            "ACR_ECI_LOG_FORMAT": "JSON",
            "ACR_ECI_LOG_LEVEL": "debug",
        }
    )
    assert (settings.endpoint, settings.endpoint_protocol) == ("127.0.0.1:8085", "http")
    assert settings.default_security_group_id == "sg-abc"
    assert settings.default_v_switch_ids == ("vsw-a", "vsw-b")
    assert (settings.poll_interval, settings.status_poll_interval) == (2.5, 0.5)
    for action in (
        "CreateContainerGroup",
        "UpdateContainerGroup",
        "DeleteContainerGroup",
        "RestartContainerGroup",
    ):
        assert settings.limit(action) == RateLimit(5.0, 10)
    for action in ("DescribeContainerGroups", "DescribeContainerGroupStatus", "DescribeContainerGroupEvents"):
        assert settings.limit(action) == RateLimit(7.0, 20)
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ALIBABA_CLOUD_REGION_ID": "Beijing"}, "ALIBABA_CLOUD_REGION_ID"),
        ({"ECI_ENDPOINT": "ftp://x"}, "ECI_ENDPOINT"),
        ({"ECI_DEFAULT_SECURITY_GROUP_ID": "group-1"}, "ECI_DEFAULT_SECURITY_GROUP_ID"),
        ({"ECI_DEFAULT_VSWITCH_IDS": ",".join(f"vsw-{i}" for i in range(11))}, "ECI_DEFAULT_VSWITCH_IDS"),
        ({"ECI_POLL_INTERVAL_SECONDS": "soon"}, "ECI_POLL_INTERVAL_SECONDS"),
        ({"ECI_MUTATE_BURST": "0"}, "ECI_MUTATE_BURST"),
        ({"ECI_RATE_LIMITS": "CreateContainerGroup=fast"}, "ECI_RATE_LIMITS"),
        ({"ECI_RATE_LIMITS": "CreateContainerGroup=10/0"}, "ECI_RATE_LIMITS"),
        ({"ECI_RATE_LIMITS": "create=10/5"}, "ECI_RATE_LIMITS"),
        ({"ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS": "-1"}, "ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS"),
        ({"ACR_ECI_LOG_FORMAT": "xml"}, "ACR_ECI_LOG_FORMAT"),
    ],
)
def test_a_bad_setting_is_refused_by_name(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({**BASE, **change})


def test_no_credential_is_read_or_required_here() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "very-secret-value",
            "ALIBABA_CLOUD_SECURITY_TOKEN": "tok",
        }
    )
    assert "very-secret-value" not in repr(settings)


def test_a_group_setting_keeps_the_documented_value_it_does_not_set() -> None:
    settings = Settings.from_env({**BASE, "ECI_MUTATE_RATE_PER_SECOND": "8"})
    assert settings.limit("CreateContainerGroup") == RateLimit(8.0, 100)
    assert settings.limit("UpdateContainerGroup") == RateLimit(8.0, 100)
    assert settings.limit("DescribeContainerGroups") == DOCUMENTED_LIMITS["DescribeContainerGroups"]


def test_one_action_is_set_over_its_group() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "ECI_MUTATE_RATE_PER_SECOND": "8",
            "ECI_RATE_LIMITS": "CreateContainerGroup=12/40, DescribeContainerGroupStatus=50",
            "ACR_ECI_CLIENT_TOKEN_TRUST_SECONDS": "60",
        }
    )
    assert settings.limit("CreateContainerGroup") == RateLimit(12.0, 40)
    assert settings.limit("DeleteContainerGroup") == RateLimit(8.0, 100)
    assert settings.limit("DescribeContainerGroupStatus") == RateLimit(50.0, 200)
    assert settings.client_token_trust == 60.0
