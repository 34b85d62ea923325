#!/usr/bin/env bash
# Install Debian's prometheus package once (/usr/bin/prometheus and /usr/bin/promtool, for the metrics
# tests), without starting its service: while apt runs, a policy-rc.d that denies every start is in
# place (one already there is left as it is). The tests start their own Prometheus, by pid.
set -euo pipefail
if [[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "[install-prometheus] /usr/bin/prometheus is missing: run as root, or apt-get install prometheus" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# no service starts while apt installs packages for the tests\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
echo "[install-prometheus] apt-get install prometheus" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
/usr/bin/prometheus --version 2>&1 | head -1 >&2
