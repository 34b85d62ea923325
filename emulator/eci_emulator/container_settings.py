"""A container's probes, lifecycle hooks, security context and FieldRef variables; the group's sysctls.

Their checks on CreateContainerGroup / UpdateContainerGroup, and their views. Sources: the CreateContainerGroup
and UpdateContainerGroup API references (parameter descriptions) and the ECI user guide "Configure a
security context". What they say, rule by rule:

- LivenessProbe / ReadinessProbe: "only one of HttpGet, Exec and TcpSocket"; PeriodSeconds default 10,
  minimum 1; TimeoutSeconds default 1, minimum 1; SuccessThreshold default 1 and "currently must be 1";
  FailureThreshold default 3. Silent, so the emulator's choices (Kubernetes's): InitialDelaySeconds default
  0, minimum 0; FailureThreshold minimum 1; no maxima; HttpGet.Port and TcpSocket.Port required, 1-65535;
  HttpGet.Path, when given, starts with /, default /; HttpGet.Scheme default HTTP.
- Lifecycle hooks (LifecyclePostStartHandler*, LifecyclePreStopHandler*): the reference does not say that
  one hook takes one handler kind; the emulator follows Kubernetes: at most one of Exec, HttpGet, TcpSocket,
  with a Port for HttpGet and TcpSocket. UpdateContainerGroup spells PostStart's headers
  LifecyclePostStartHandlerHttpGetHttpHeaders.N (plural), CreateContainerGroup
  LifecyclePostStartHandlerHttpGetHttpHeader.N; the group holds the headers under the Create spelling.
- SecurityContext.Capability.Add.N: "currently only NET_ADMIN and NET_RAW" (validation.ENUMS);
  ReadOnlyRootFilesystem: "currently only true is supported", so false is refused; RunAsUser,
  SecurityContextRunAsGroup: ids, the emulator takes Kubernetes's range 0 to 2147483647.
- EnvironmentVar.N.FieldRef.FieldPath: "currently only status.podIP" (validation.ENUMS). Whether Value may
  come with it is not said; the emulator refuses a non-empty Value beside a FieldRef (Kubernetes refuses value
  with valueFrom) and accepts an empty one.
- SecurityContext.Sysctl.N: the safe sysctls net.ipv4.ping_group_range and net.ipv4.ip_unprivileged_port_start
  (validation.ENUMS); the emulator's choices: Value required, each Name once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eci_emulator import errors
from eci_emulator.validation import Reader

PROBES = ("LivenessProbe", "ReadinessProbe")
HANDLER_KINDS = ("Exec", "HttpGet", "TcpSocket")
HOOKS = ("PostStart", "PreStop")
MAX_ID = 2**31 - 1
UPDATE_SPELLINGS = {
    "LifecyclePostStartHandlerHttpGetHttpHeaders": "LifecyclePostStartHandlerHttpGetHttpHeader"
}
"""UpdateContainerGroup's name of a container sub-parameter -> CreateContainerGroup's."""


@dataclass(frozen=True)
class Probe:
    """A liveness or readiness probe, defaults filled in."""

    handler: dict[str, Any] = field(hash=False)
    """{"Exec": {"Command": [...]}}, {"HttpGet": {"Path", "Port", "Scheme"}} or {"TcpSocket": {"Port"}}."""
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3
    timeout_seconds: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.handler,
            "InitialDelaySeconds": self.initial_delay_seconds,
            "PeriodSeconds": self.period_seconds,
            "SuccessThreshold": self.success_threshold,
            "FailureThreshold": self.failure_threshold,
            "TimeoutSeconds": self.timeout_seconds,
        }

    def failure(self, pod_ip: str) -> str:
        """What a failed probe says, worded as the kubelet's prober words it."""
        if "HttpGet" in self.handler:
            return "HTTP probe failed with statuscode: 500"
        if "TcpSocket" in self.handler:
            return f"dial tcp {pod_ip}:{self.handler['TcpSocket']['Port']}: connect: connection refused"
        return f"command {' '.join(self.handler['Exec']['Command'])!r} exited with 1"


# ---- checks -------------------------------------------------------------------------------------------


def check_container_settings(container: Reader) -> None:
    for kind in PROBES:
        if container.has(kind):
            _check_probe(container.sub(kind))
    for hook in HOOKS:
        _check_hook(container, hook)
    context = container.sub("SecurityContext")
    if context.text("ReadOnlyRootFilesystem") == "false":
        raise errors.invalid_parameter(
            f"The parameter {context.name('ReadOnlyRootFilesystem')} can only be true (ECI supports only a "
            "read-only root file system here); leave it out for a writable one."
        )
    context.integer("RunAsUser", 0, MAX_ID)
    container.integer("SecurityContextRunAsGroup", 0, MAX_ID)
    for variable in container.items("EnvironmentVar"):
        if variable.has("FieldRef") and variable.text("Value"):
            raise errors.invalid_parameter(
                f"The parameter {variable.name('Value')} must be empty when "
                f"{variable.name('FieldRef.FieldPath')} gives the variable its value."
            )


def _handler_error(where: str, given: list[str]) -> errors.EciError:
    return errors.invalid_parameter(
        f"{where} takes exactly one handler (Exec, HttpGet or TcpSocket); got "
        f"{' and '.join(given) if given else 'none'}."
    )


def _check_probe(probe: Reader) -> None:
    given = [kind for kind in HANDLER_KINDS if probe.has(kind)]
    if len(given) != 1:
        raise _handler_error(f"The parameter {probe.path}", given)
    http_get = probe.sub("HttpGet")
    if given == ["HttpGet"]:
        http_get.integer("Port", 1, 65535, required=True)
        _check_http_path(http_get, "Path")
    if given == ["TcpSocket"]:
        probe.sub("TcpSocket").integer("Port", 1, 65535, required=True)
    probe.integer("InitialDelaySeconds", 0)
    probe.integer("PeriodSeconds", 1)
    probe.integer("TimeoutSeconds", 1)
    probe.integer("FailureThreshold", 1)
    success = probe.integer("SuccessThreshold")
    if success is not None and success != 1:
        raise errors.invalid_parameter(
            f"The parameter {probe.name('SuccessThreshold')} must be 1 (ECI supports only 1), not {success}."
        )


def _check_http_path(reader: Reader, key: str) -> None:
    path = reader.text(key)
    if path and not path.startswith("/"):
        raise errors.invalid_parameter(f"The parameter {reader.name(key)} ({path!r}) must start with /.")


def _check_hook(container: Reader, hook: str) -> None:
    prefix = f"Lifecycle{hook}Handler"
    given = [kind for kind in HANDLER_KINDS if any(key.startswith(prefix + kind) for key in container.node)]
    if len(given) > 1:
        raise _handler_error(f"The {hook} hook of {container.path} ({prefix}*)", given)
    if given == ["HttpGet"]:
        container.integer(f"{prefix}HttpGetPort", 1, 65535, required=True)
        _check_http_path(container, f"{prefix}HttpGetPath")
        for spelling in (f"{prefix}HttpGetHttpHeader", f"{prefix}HttpGetHttpHeaders"):
            for header in container.items(spelling):
                header.required("Name")
    if given == ["TcpSocket"]:
        container.integer(f"{prefix}TcpSocketPort", 1, 65535, required=True)


def check_sysctls(params: Reader) -> tuple[tuple[str, str], ...]:
    sysctls: dict[str, str] = {}
    for sysctl in params.sub("SecurityContext").items("Sysctl"):
        name = sysctl.required("Name")
        if name in sysctls:
            raise errors.invalid_parameter(f"The sysctl {name!r} is given twice ({sysctl.name('Name')}).")
        sysctls[name] = sysctl.required("Value")
    return tuple(sysctls.items())


def held_spelling(raw: dict[str, Any]) -> dict[str, Any]:
    """A container's sub-parameters with UpdateContainerGroup's spellings turned into CreateContainerGroup's."""
    return {UPDATE_SPELLINGS.get(key, key): value for key, value in raw.items()}


# ---- views --------------------------------------------------------------------------------------------


def probe(container: dict[str, Any], kind: str) -> Probe | None:
    """The container's LivenessProbe or ReadinessProbe (checked), or None."""
    node = container.get(kind)
    if not node:
        return None
    handler: dict[str, Any]
    if "Exec" in node:
        handler = {"Exec": {"Command": list(node["Exec"].get("Command", []))}}
    elif "HttpGet" in node:
        http_get = node["HttpGet"]
        handler = {
            "HttpGet": {
                "Path": http_get.get("Path") or "/",
                "Port": int(http_get["Port"]),
                "Scheme": http_get.get("Scheme", "HTTP"),
            }
        }
    else:
        handler = {"TcpSocket": {"Port": int(node["TcpSocket"]["Port"])}}
    defaults = Probe(handler)
    return Probe(
        handler,
        int(node.get("InitialDelaySeconds", defaults.initial_delay_seconds)),
        int(node.get("PeriodSeconds", defaults.period_seconds)),
        int(node.get("SuccessThreshold", defaults.success_threshold)),
        int(node.get("FailureThreshold", defaults.failure_threshold)),
        int(node.get("TimeoutSeconds", defaults.timeout_seconds)),
    )


def hook(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The container's PostStart or PreStop handler, shaped as a probe's, or None."""
    prefix = f"Lifecycle{name}Handler"
    if f"{prefix}Exec" in container:
        return {"Exec": {"Command": list(container[f"{prefix}Exec"])}}
    if f"{prefix}HttpGetPort" in container:
        return {
            "HttpGet": {
                "Host": container.get(f"{prefix}HttpGetHost", ""),
                "Path": container.get(f"{prefix}HttpGetPath", ""),
                "Port": int(container[f"{prefix}HttpGetPort"]),
                "Scheme": container.get(f"{prefix}HttpGetScheme", "HTTP"),
                "HttpHeaders": [
                    {"Name": header.get("Name", ""), "Value": header.get("Value", "")}
                    for header in container.get(f"{prefix}HttpGetHttpHeader", [])
                ],
            }
        }
    if f"{prefix}TcpSocketPort" in container:
        return {
            "TcpSocket": {
                "Host": container.get(f"{prefix}TcpSocketHost", ""),
                "Port": int(container[f"{prefix}TcpSocketPort"]),
            }
        }
    return None


def _flag(value: Any) -> bool | None:
    return None if value is None else value == "true"


def _number(value: Any) -> int | None:
    return None if value is None else int(value)


def security_context(container: dict[str, Any]) -> dict[str, Any]:
    """What the container was given (None: not given)."""
    context = container.get("SecurityContext", {})
    return {
        "Capabilities": list(context.get("Capability", {}).get("Add", [])),
        "ReadOnlyRootFilesystem": _flag(context.get("ReadOnlyRootFilesystem")),
        "RunAsUser": _number(context.get("RunAsUser")),
        "RunAsGroup": _number(container.get("SecurityContextRunAsGroup")),
        "RunAsNonRoot": _flag(container.get("SecurityContextRunAsNonRoot")),
        "Privileged": _flag(container.get("SecurityContextPrivileged")),
    }
