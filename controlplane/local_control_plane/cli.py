"""`local-control-plane`: run the local kube-apiserver + etcd by hand until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from local_control_plane.cluster import ControlPlane, ControlPlaneError, ensure_apiserver_binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-control-plane", description=__doc__)
    parser.add_argument(
        "--workdir", type=Path, help="keep data, logs and kubeconfig here (default: a temp folder)"
    )
    parser.add_argument("--port", type=int, default=0, help="apiserver port (default: a free one)")
    parser.add_argument("--build-only", action="store_true", help="build and cache kube-apiserver, then exit")
    args = parser.parse_args(argv)

    try:
        binary = ensure_apiserver_binary()
        if args.build_only:
            print(binary)
            return 0
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
        plane = ControlPlane(workdir=args.workdir, port=args.port, apiserver_binary=binary).start()
    except ControlPlaneError as error:
        print(f"local-control-plane: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"kube-apiserver ready at {plane.server} (pids {', '.join(map(str, plane.pids))})")
    print(f"export KUBECONFIG={plane.kubeconfig_path}")
    print("Ctrl-C stops it.", flush=True)
    try:
        stop.wait()
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
