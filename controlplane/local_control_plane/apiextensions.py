"""Start and stop the standalone apiextensions-apiserver of Kubernetes 1.36.4 with its own etcd on 127.0.0.1.

It is the server that enforces a CRD's CEL rules (`x-kubernetes-validations`), with Kubernetes' own CEL
libraries, error format and cost budget, which the 1.20 kube-apiserver of `cluster.py` ignores. It serves
CustomResourceDefinitions and custom resources only (build-apiextensions-apiserver.sh beside it builds it
from Debian's packages):

- no core API: no Namespace objects (a custom resource is created under any namespace path, since the
  admission plugins that would look the namespace up are off), no Secrets, no RBAC;
- no `/apis` discovery, so `kubectl apply` cannot use it; the Python client's CRD and custom-object calls
  use explicit paths and work;
- clients authenticate with a client certificate of group `system:masters` (signed by a CA made here),
  which the server's delegating authorizer allows without asking anyone. The kubeconfigs it insists on for
  delegated authentication and authorization and for its core API point at itself and go unused (its
  Service informer keeps failing, harmlessly, so readiness is checked without `informer-sync`).

Both processes run in a temporary folder, on free ports, die with the Python process that started them
(PR_SET_PDEATHSIG) and are stopped by pid.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from local_control_plane.cluster import (
    LocalApiserver,
    ensure_built,
    free_port,
    start_process,
    write_kubeconfig,
)

BUILD_SCRIPT = Path(__file__).resolve().parent / "build-apiextensions-apiserver.sh"
KUBERNETES_VERSION = "1.36.4"

# Every admission plugin the server has needs informers on a core API it does not have.
DISABLED_ADMISSION_PLUGINS = (
    "NamespaceLifecycle",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
)


def ensure_apiextensions_binary() -> Path:
    """The cached apiextensions-apiserver 1.36.4 (APIEXTENSIONS_APISERVER_BINARY overrides it)."""
    return ensure_built(BUILD_SCRIPT, "APIEXTENSIONS_APISERVER_BINARY", "apiextensions-apiserver")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@dataclass
class ApiextensionsServer(LocalApiserver):
    """A running etcd + apiextensions-apiserver pair. Use `start()` / `stop()` or `running_apiextensions()`."""

    binary: Path | None = None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "apiextensions-apiserver.log"

    def start(self, timeout: float = 60.0) -> ApiextensionsServer:
        binary = self.binary or ensure_apiextensions_binary()

        def launch(workdir: Path) -> None:
            self._write_credentials(workdir)
            self._start_server(binary, workdir)

        # informer-sync never passes: the Service informer has no core API to list from.
        self._start_with_etcd("acr-eci-apiextensions-", launch, "/readyz?exclude=informer-sync", timeout)
        return self

    def _write_credentials(self, workdir: Path) -> None:
        """A client CA, an admin certificate it signs, and the admin kubeconfig."""
        pki = workdir / "pki"
        pki.mkdir()
        ca_key, ca_crt = pki / "ca.key", pki / "ca.crt"
        admin_key, admin_csr, admin_crt = pki / "admin.key", pki / "admin.csr", pki / "admin.crt"
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7", "-subj", "/CN=acr-eci-test-ca",
            "-keyout", str(ca_key), "-out", str(ca_crt),
        )  # fmt: skip
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/O=system:masters/CN=admin",
            "-keyout", str(admin_key), "-out", str(admin_csr),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(admin_csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "7", "-out", str(admin_crt),
        )  # fmt: skip
        self.port = self.port or free_port()
        # The server writes its self-signed serving certificate (its CA included) there at start-up.
        write_kubeconfig(
            self.kubeconfig_path,
            self.server,
            workdir / "certs" / "apiserver.crt",
            {"client-certificate": str(admin_crt), "client-key": str(admin_key)},
        )

    def _start_server(self, binary: Path, workdir: Path) -> None:
        kubeconfig = str(self.kubeconfig_path)
        self.processes.append(
            start_process(
                [
                    str(binary),
                    f"--etcd-servers={self.etcd_url}",
                    f"--bind-address={self.host}",
                    f"--secure-port={self.port}",
                    f"--cert-dir={workdir / 'certs'}",
                    f"--client-ca-file={workdir / 'pki' / 'ca.crt'}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    "--authentication-skip-lookup",
                    f"--authorization-kubeconfig={kubeconfig}",
                    f"--kubeconfig={kubeconfig}",
                    f"--disable-admission-plugins={','.join(DISABLED_ADMISSION_PLUGINS)}",
                    "--enable-priority-and-fairness=false",
                    "--v=1",
                ],
                self.log_path,
            )
        )


@contextlib.contextmanager
def running_apiextensions() -> Iterator[ApiextensionsServer]:
    """A started apiextensions-apiserver for the duration of the block, stopped however the block ends."""
    server = ApiextensionsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
