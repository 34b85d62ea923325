"""`acr-eci-operator run`: validate the settings, configure logging, and run the kopf operator; `plan`: the
ECI parameters and the operator's next action for manifests, before they are applied."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import random
import secrets
import socket
import sys

import kopf

from acr_eci_operator import plan
from acr_eci_operator.credentials import (
    ENV_STS_ENDPOINT,
    CredentialsError,
    open_credentials,
    source_from_env,
    sts_endpoint_from,
)
from acr_eci_operator.settings import Settings, SettingsError, parse_address


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acr-eci-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator (settings come from the environment)")
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    peering = run.add_mutually_exclusive_group()
    peering.add_argument(
        "--standalone", action="store_true", help="no peering: act even if other operators run"
    )
    peering.add_argument("--peering", help="kopf peering object name: of several replicas, one acts")
    run.add_argument("--liveness", help="serve kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument(
        "--metrics-address",
        type=_address,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: ACR_ECI_METRICS_ADDRESS; unset: off)",
    )
    run.add_argument(
        "--require-namespace-credentials",
        action="store_true",
        help="serve a resource only with its namespace's credentials Secret (acr-eci-credentials, or the one "
        "its annotation eci.acr-operator.dev/credentials-from names), never with the operator's own",
    )
    plan.add_parser(commands)
    return parser


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except SettingsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def configure_logging(settings: Settings) -> None:
    log_format = kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=settings.log_level == "DEBUG", log_format=log_format)
    logging.getLogger().setLevel(settings.log_level)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    if settings.log_level != "DEBUG":
        # kopf logs "Handler 'watched' succeeded" for every watch event (each status write makes one).
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "plan":
        return plan.main(args)
    try:
        settings = Settings.from_env(os.environ)
        source = source_from_env(os.environ)
        sts_endpoint = sts_endpoint_from(ENV_STS_ENDPOINT, os.environ.get(ENV_STS_ENDPOINT))
    except (SettingsError, ValueError) as error:
        print(f"acr-eci-operator: invalid setting: {error}", file=sys.stderr)
        return 2
    if args.metrics_address is not None:
        settings = dataclasses.replace(settings, metrics_address=args.metrics_address)
    configure_logging(settings)
    try:
        # AccessKey files are read now (a missing or malformed file stops the start); STS is first
        # called when the first ECI call needs credentials.
        credentials = open_credentials(source)
    except CredentialsError as error:
        print(f"acr-eci-operator: invalid credentials: {error.message}", file=sys.stderr)
        return 2
    from acr_eci_operator import handlers  # (registers the handlers)

    if settings.watch_secrets:
        handlers.watch_secrets()

    logging.getLogger(__name__).info(
        "starting: region %s, endpoint %s, poll every %gs, scope %s",
        settings.region_id,
        settings.endpoint or "ECI default",
        settings.poll_interval,
        "all namespaces" if args.all_namespaces else ", ".join(args.namespace),
    )
    logging.getLogger(__name__).info("credentials: %s", source.describe())
    # kopf pauses peered replicas of equal priority alike: a random priority lets exactly one (the
    # highest) act. The identity is ours so that the poller can read the same peering object.
    identity = f"{os.environ.get('POD_ID') or socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
    priority = random.randint(1, 1_000_000)
    peering_name = None if args.standalone else (args.peering or None)
    kopf.run(
        standalone=args.standalone or peering_name is None,
        peering_name=peering_name,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        identity=identity,  # type: ignore[arg-type]
        priority=priority,
        memo=kopf.Memo(
            settings=settings,
            credentials=credentials,
            sts_endpoint=sts_endpoint,
            require_namespace_credentials=args.require_namespace_credentials,
            identity=identity,
            priority=priority,
            peering_name=peering_name,
            namespaces=None if args.all_namespaces else list(args.namespace),
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
