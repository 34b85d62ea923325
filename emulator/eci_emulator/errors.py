"""ECI error codes the emulator answers with, and the exception that carries them.

Sources, per code (the ECI API reference pages of each action, "Error codes" tables, and the common error
codes of Alibaba Cloud RPC APIs):

- IncorrectStatus (400): DeleteContainerGroup and RestartContainerGroup error tables ("the status of the
  specified container group is invalid"); UpdateContainerGroup documents that only Pending or Running
  groups can be updated, and the emulator answers the same code there.
- OperationConflict (400): DeleteContainerGroup error table ("Request was denied due to conflict with a
  previous request.").
- InvalidParameter (400), InvalidAction (403): RestartContainerGroup error table. InvalidParameter is also
  the answer, naming the parameter, to a CreateContainerGroup / UpdateContainerGroup over a list or length
  limit (model.py): Tag.N at most 20; Container.N.Arg.N at most 10 ("You can specify up to 10 arguments")
  and EnvironmentVar.N.Value at most 256 characters ("The value can be up to 256 characters in length"),
  both from the parameter descriptions of the CreateContainerGroup reference; Container.N at most 20; and
  AcrRegistryInfo.N at most 10, where the reference is silent: the emulator's choice, matching the
  operator's bound. The reference documents no error code for these; InvalidParameter is the generic one.
- InvalidImageName is not an error code: an image reference that does not parse is accepted by
  CreateContainerGroup and shows as the container's Waiting reason (registries.py, lifecycle.py), as the
  kubelet reports it.
- IdempotentParameterMismatch (400): the ECI idempotence page (same ClientToken, other parameters).
- Throttling.User (400), MissingParameter (400), InvalidAccessKeyId.NotFound (404), SignatureDoesNotMatch
  (400), SignatureNonceUsed (400), InvalidTimeStamp.Expired (400), InvalidVersion (400),
  InvalidSecurityToken.* (400), ServiceUnavailable (503), InternalError (500): the common error codes of
  Alibaba Cloud RPC APIs (the gateway answers them for every product).
- InvalidSecurityToken.Expired (400, "Specified SecurityToken is expired."): the common gateway code for an
  STS key past its Expiration (the status is the emulator's choice, as for the other InvalidSecurityToken.*).
- IncompleteSignature (400): a common gateway code; the emulator answers it to a v3 request whose
  Authorization header is malformed or leaves `host` or an `x-acs-*` header unsigned (its own choice where
  the reference is silent).
- STS's own codes are in sts.py.
- InvalidContainerGroupId.NotFound (404): the ECI reference is silent on the code for a group id that does
  not exist (Describe* simply return nothing); this name follows the `Invalid<Resource>Id.NotFound`
  convention of ECS (`InvalidInstanceId.NotFound`) and is the emulator's own choice.
"""

from __future__ import annotations

from dataclasses import dataclass

INVALID_PARAMETER = "InvalidParameter"
MISSING_PARAMETER = "MissingParameter"
INCORRECT_STATUS = "IncorrectStatus"
OPERATION_CONFLICT = "OperationConflict"
CONTAINER_GROUP_NOT_FOUND = "InvalidContainerGroupId.NotFound"
IDEMPOTENT_PARAMETER_MISMATCH = "IdempotentParameterMismatch"
THROTTLING_USER = "Throttling.User"
INVALID_ACTION = "InvalidAction.NotFound"
ACCESS_KEY_NOT_FOUND = "InvalidAccessKeyId.NotFound"
SIGNATURE_DOES_NOT_MATCH = "SignatureDoesNotMatch"
SIGNATURE_NONCE_USED = "SignatureNonceUsed"
TIMESTAMP_EXPIRED = "InvalidTimeStamp.Expired"
TIMESTAMP_FORMAT = "InvalidTimeStamp.Format"
INVALID_VERSION = "InvalidVersion"
UNSUPPORTED_SIGNATURE_METHOD = "InvalidSignatureMethod"
UNSUPPORTED_SIGNATURE_VERSION = "InvalidSignatureVersion"
MISSING_SECURITY_TOKEN = "MissingSecurityToken"
INVALID_SECURITY_TOKEN = "InvalidSecurityToken.MismatchWithAccessKey"
SECURITY_TOKEN_EXPIRED = "InvalidSecurityToken.Expired"
INCOMPLETE_SIGNATURE = "IncompleteSignature"
SERVICE_UNAVAILABLE = "ServiceUnavailable"
INTERNAL_ERROR = "InternalError"


@dataclass
class EciError(Exception):
    """An error answered to the client as ECI's JSON error body."""

    code: str
    message: str
    http_status: int = 400

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def invalid_parameter(message: str) -> EciError:
    return EciError(INVALID_PARAMETER, message, 400)


def missing_parameter(name: str) -> EciError:
    return EciError(
        MISSING_PARAMETER,
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
        400,
    )


def group_not_found(container_group_id: str) -> EciError:
    return EciError(
        CONTAINER_GROUP_NOT_FOUND,
        f"The specified ContainerGroupId does not exist: {container_group_id}",
        404,
    )


def incorrect_status(container_group_id: str, status: str, action: str) -> EciError:
    return EciError(
        INCORRECT_STATUS,
        f"The current status {status} of container group {container_group_id} does not support {action}.",
        400,
    )


def throttled() -> EciError:
    return EciError(THROTTLING_USER, "Request was denied due to user flow control.", 400)
