from __future__ import annotations

import pytest

from acr_eci_operator.settings import RateLimit, Settings, SettingsError

BASE = {"ALIBABA_CLOUD_REGION_ID": "cn-beijing"}
"""Credentials are not Settings' business (tests/unit/test_credentials.py)."""


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env(BASE)
    assert settings.region_id == "cn-beijing"
    assert settings.endpoint is None and settings.endpoint_protocol == "https"
    assert (settings.poll_interval, settings.status_poll_interval) == (60.0, 2.5)
    assert settings.mutate_limit == RateLimit(16.0, 100)
    assert settings.describe_limit == RateLimit(33.0, 100)
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
    assert settings.mutate_limit == RateLimit(5.0, 10)
    assert settings.describe_limit == RateLimit(7.0, 20)
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
