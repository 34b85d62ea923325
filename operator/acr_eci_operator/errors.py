"""The one error type of the operator: what failed, why (a condition reason), and whether to retry.

Every failure the reconciler meets (an ECI error, a missing Secret, an invalid spec, a Kubernetes call
that failed or timed out) is an `OperatorError`. One place, `Controller._fail`, turns it into the Synced
condition, a Warning event and the retry decision, so no call site picks its own delay.
"""

from __future__ import annotations


class OperatorError(Exception):
    """A failure with the condition it sets.

    `reason` is the Synced condition's reason (an ECI error code, or one of ours such as SecretNotFound);
    `retryable` says whether the same work may succeed later without a change of the resource: it is
    retried with capped exponential backoff; otherwise the resource waits for a change of its own.
    """

    def __init__(self, reason: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.retryable = retryable


class InvalidSpec(OperatorError):
    """The spec cannot be turned into an ECI request as it is."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidSpec", message, retryable=False)


class KubernetesUnavailable(OperatorError):
    """A call to the Kubernetes API failed or timed out (it is retried)."""

    def __init__(self, message: str) -> None:
        super().__init__("KubernetesUnavailable", message, retryable=True)


class Conflict(KubernetesUnavailable):
    """A write conditional on the object's resourceVersion found a newer version (409): the object held
    is not the latest (it is retried with a fresh read)."""
