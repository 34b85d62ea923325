"""`eci-emulator`: run the ECI emulator as a process (prints its URL when ready; stops on SIGTERM/SIGINT)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from eci_emulator.backend import ACTIONS
from eci_emulator.faults import Fault
from eci_emulator.lifecycle import Timings
from eci_emulator.server import Emulator, sample_catalog_document
from eci_emulator.sts import MIN_DURATION_SECONDS, OidcProvider, Role

logger = logging.getLogger("eci_emulator")


def _access_key(value: str) -> tuple[str, str]:
    key_id, sep, secret = value.partition(":")
    if not sep or not key_id or not secret:
        raise argparse.ArgumentTypeError("expected ID:SECRET")
    return key_id, secret


def _rate_limit(value: str) -> tuple[str, float, float]:
    action, _, limit = value.partition("=")
    if action not in ACTIONS:
        raise argparse.ArgumentTypeError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    try:
        rate, _, burst = limit.partition("/")
        return action, float(rate), float(burst or rate)
    except ValueError:
        raise argparse.ArgumentTypeError("expected ACTION=RATE/BURST") from None


def _fault(value: str) -> tuple[str, Fault]:
    """`ACTION=key=value,key=value` (Fault's fields), e.g. `*=error_code=ServiceUnavailable,rate=0.2`."""
    action, _, spec = value.partition("=")
    if action != "*" and action not in ACTIONS:
        raise argparse.ArgumentTypeError(f"unknown action {action!r}; one of *, {', '.join(ACTIONS)}")
    types = {item.name: item.type for item in dataclasses.fields(Fault)}
    settings: dict[str, object] = {}
    for pair in filter(None, spec.split(",")):
        key, _, raw = pair.partition("=")
        kind = str(types.get(key, ""))
        if not kind:
            raise argparse.ArgumentTypeError(f"unknown fault setting {key!r}; one of {', '.join(types)}")
        try:
            settings[key] = float(raw) if "float" in kind else int(raw) if "int" in kind else raw
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key}={raw!r} is not a number") from None
    try:
        return action, Fault(**settings)  # type: ignore[arg-type]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _role(value: str) -> Role:
    """`ROLE_ARN[=OIDC_PROVIDER_ARN,...]`."""
    arn, _, providers = value.partition("=")
    try:
        return Role(arn, tuple(filter(None, providers.split(","))))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _oidc_provider(value: str) -> OidcProvider:
    """`PROVIDER_ARN` (tokens from --oidc-token) or `PROVIDER_ARN=any` (any JWT for sts.aliyuncs.com)."""
    arn, _, rule = value.partition("=")
    if rule not in ("", "any"):
        raise argparse.ArgumentTypeError("expected PROVIDER_ARN or PROVIDER_ARN=any")
    try:
        return OidcProvider(arn, accept_any_jwt=rule == "any")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _oidc_token(value: str) -> tuple[str, str]:
    """`PROVIDER_ARN=@FILE` (the token read from FILE) or `PROVIDER_ARN=TOKEN`."""
    arn, sep, token = value.partition("=")
    if not sep or not token:
        raise argparse.ArgumentTypeError("expected PROVIDER_ARN=@FILE or PROVIDER_ARN=TOKEN")
    if token.startswith("@"):
        try:
            with open(token[1:], encoding="utf-8") as file:
                token = file.read().strip()
        except OSError as error:
            raise argparse.ArgumentTypeError(f"cannot read the token file: {error}") from None
    return arn, token


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eci-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085, help="0 picks a free port (default 8085)")
    parser.add_argument(
        "--access-key",
        action="append",
        type=_access_key,
        default=[],
        metavar="ID:SECRET",
        help="an accepted AccessKey pair (repeatable; default from ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET)",
    )
    parser.add_argument(
        "--security-token",
        action="append",
        default=[],
        metavar="ID:TOKEN",
        help="make key ID an STS key that must present TOKEN (repeatable)",
    )
    parser.add_argument(
        "--acr-instances",
        metavar="FILE",
        help="registry catalog YAML (default: the bundled sample, examples/emulator/acr-instances.yaml)",
    )
    parser.add_argument("--lenient", action="store_true", help="accept (and ignore) unknown parameter names")
    parser.add_argument("--scheduling-seconds", type=float)
    parser.add_argument("--pending-seconds", type=float)
    parser.add_argument("--retention-seconds", type=float)
    parser.add_argument(
        "--rate-limit",
        action="append",
        type=_rate_limit,
        default=[],
        metavar="ACTION=RATE/BURST",
        help="token bucket for an action (repeatable)",
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="turn flow control off")
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault,
        default=[],
        metavar="ACTION=KEY=VALUE,...",
        help="inject a fault from the start, e.g. '*=error_code=ServiceUnavailable,rate=0.2' (repeatable; "
        "keys: error_code, http_status, message, rate, latency_seconds (wait before handling), "
        "response_delay_seconds (wait after handling: a late, stale answer), drop_rate, schedule_failure_rate, "
        "times)",
    )
    parser.add_argument(
        "--sts-role",
        action="append",
        type=_role,
        default=[],
        metavar="ROLE_ARN[=OIDC_PROVIDER_ARN,...]",
        help="a role STS issues credentials for: by AssumeRole (any known key) and by AssumeRoleWithOIDC "
        "with a token of the providers listed (repeatable)",
    )
    parser.add_argument(
        "--oidc-provider",
        action="append",
        type=_oidc_provider,
        default=[],
        metavar="PROVIDER_ARN[=any]",
        help="an OIDC provider accepting the tokens given with --oidc-token, or (=any) any JWT whose audience "
        "is sts.aliyuncs.com (repeatable)",
    )
    parser.add_argument(
        "--oidc-token",
        action="append",
        type=_oidc_token,
        default=[],
        metavar="PROVIDER_ARN=@FILE",
        help="a token the provider accepts, read from FILE (or given inline; repeatable)",
    )
    parser.add_argument(
        "--sts-lifetime-seconds",
        type=float,
        help="cap the lifetime of the credentials STS issues (default: as DurationSeconds asks)",
    )
    parser.add_argument(
        "--sts-min-duration-seconds",
        type=int,
        default=MIN_DURATION_SECONDS,
        help=f"the smallest DurationSeconds STS accepts (default {MIN_DURATION_SECONDS})",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    access_keys = dict(args.access_key)
    tokens = dict(token.partition(":")[::2] for token in args.security_token)
    if not access_keys:
        key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if key_id and secret:
            access_keys[key_id] = secret
            security_token = os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN")
            if security_token:
                tokens.setdefault(key_id, security_token)
    if not access_keys:
        logger.warning("no access key configured: every ECI request will be refused")
    timings = Timings()
    for name in ("scheduling_seconds", "pending_seconds", "retention_seconds"):
        value = getattr(args, name)
        if value is not None:
            timings.update({name: value})
    emulator = Emulator(
        access_keys=access_keys,
        acr_instances=args.acr_instances or sample_catalog_document(),
        timings=timings,
        strict=not args.lenient,
        security_tokens=tokens,
        rate_limits={action: (rate, burst) for action, rate, burst in args.rate_limit},
        rate_limiting=not args.no_rate_limits,
        sts_roles=args.sts_role,
        oidc_providers=args.oidc_provider,
        sts_lifetime_seconds=args.sts_lifetime_seconds,
        sts_min_duration_seconds=args.sts_min_duration_seconds,
    )
    for provider_arn, token in args.oidc_token:
        try:
            emulator.add_oidc_token(provider_arn, token)
        except KeyError:
            logger.error("--oidc-token names %s, which no --oidc-provider registers", provider_arn)
            return 2
    for action, fault in args.fault:
        emulator.set_fault(action, fault)
    stopping = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    emulator.start(args.host, args.port)
    sys.stdout.write(f"{emulator.url}\n")
    sys.stdout.flush()
    stopping.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
