#!/usr/bin/env bash
# Build the standalone apiextensions-apiserver of Kubernetes 1.36.4 from Debian sid's own Go packages, once,
# and cache it. It is the test bed's CEL-enforcing apiserver (CRDs and custom resources only); see README.md,
# Development.
#
#   bash build-apiextensions-apiserver.sh      # prints the cached binary's path
#
# Debian sid ships the sources (golang-k8s-apiextensions-apiserver-dev, with the upstream server's main.go)
# and Go 1.27, which bookworm's Go 1.19 cannot build: the build runs in a throwaway sid chroot made by
# debootstrap, with every version that matters pinned. The static binary lands in
# ${ACR_ECI_CACHE:-~/.cache/acr-eci-operator}/apiextensions-apiserver-1.36.4-p1; the chroot (3 GB) is removed
# afterwards, since only a change of this recipe needs it again. Nothing is written inside the repository.
# Needs root the first time; takes 5-6 minutes cold on 2 cores (debootstrap half a minute, packages 1,
# compile 3-4); two builds from the same pins gave the same binary byte for byte.
# ACR_ECI_DEBIAN_MIRROR overrides the Debian mirror (default: the one apt on this machine uses).
set -euo pipefail

# The whole script is one block, parsed before it runs: editing the file mid-build cannot break it.
{

KUBE_VERSION="1.36.4"
CACHE="${ACR_ECI_CACHE:-$HOME/.cache/acr-eci-operator}"
# The name changes with the recipe, so an older build is not reused.
BINARY="$CACHE/apiextensions-apiserver-$KUBE_VERSION-p1"
# Debian sid as this machine's registry serves it (a dated snapshot). A missing version fails the build,
# naming the package, rather than building something else.
PINNED=(
  "golang-go=2:1.27~1"
  "golang-1.27-go=1.27.3-1"
  "golang-k8s-apiextensions-apiserver-dev=0.36.4-1"
  "golang-k8s-apiserver-dev=0.36.4-2"
  "golang-k8s-apimachinery-dev=0.36.4-3"
  "golang-k8s-client-go-dev=0.36.4-1"
  "golang-k8s-component-base-dev=0.36.4-2"
  "golang-cel-cel-go-dev=0.32.0+ds-5"
)
GOROOT_IN_ROOT=/usr/lib/go-1.27

log() { printf '[build-apiextensions-apiserver] %s\n' "$*" >&2; }

if [[ -x "$BINARY" ]]; then
  echo "$BINARY"
  exit 0
fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

need_debs=()
for pkg in debootstrap etcd-server openssl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_debs+=("$pkg")
done
if (( ${#need_debs[@]} )); then
  log "apt-get update"
  as_root apt-get update -qq
  log "installing ${need_debs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

debian_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(LABEL)' 'Created-By: Packages' 2>/dev/null \
    | awk '$2 == "Debian" { print $1; exit }'
}
mirror="${ACR_ECI_DEBIAN_MIRROR:-$(debian_mirror)}"
if [[ -z $mirror ]]; then
  as_root apt-get update -qq
  mirror=$(debian_mirror)
fi
[[ -n $mirror ]] || { log "apt knows no Debian archive to take sid from: set ACR_ECI_DEBIAN_MIRROR"; exit 1; }

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build-apiextensions.XXXXXX")
root="$work/sid"
# Nothing is mounted into the chroot, so removing it cannot reach outside it.
trap 'as_root rm -rf --one-file-system "$work"' EXIT
in_root() { as_root chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 "$@"; }

log "debootstrap: a minimal Debian sid in $root (about a minute)"
if ! as_root debootstrap --variant=minbase sid "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  log "debootstrap of sid from $mirror failed"
  exit 1
fi
# The registry serves sid as a dated snapshot, whose Release file is past its Valid-Until.
echo 'Acquire::Check-Valid-Until "false";' | as_root tee "$root/etc/apt/apt.conf.d/99acr-eci-snapshot" >/dev/null
log "apt-get update (sid)"
in_root apt-get update -qq >&2

for pin in "${PINNED[@]}"; do
  name=${pin%%=*}
  version=${pin#*=}
  available=$(in_root apt-cache madison "$name" | awk -F' [|] ' '{ print $2 }' | tr -d ' ' | paste -sd ' ')
  if ! grep -qxF -- "$version" <<<"${available// /$'\n'}"; then
    log "pinned package $name=$version is not in Debian sid here (available: ${available:-none})"
    log "update PINNED in $0 to a version that is, and check the CEL tests still pass"
    exit 1
  fi
done
log "installing ${PINNED[*]} and their dependencies (1-2 minutes)"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PINNED[@]}" \
  >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; log "apt-get install in the chroot failed"; exit 1; }

# GOROOT is given since go cannot find it by itself without /proc (nothing is mounted).
go_env=(env "GOROOT=$GOROOT_IN_ROOT" GOTOOLCHAIN=local)
log "compiling k8s.io/apiextensions-apiserver with $(in_root "${go_env[@]}" go version 2>/dev/null | cut -d' ' -f3) (3-4 minutes)"
as_root mkdir -p "$root/build/gopath"
# GOPATH mode over Debian's /usr/share/gocode: no module download, nothing but the packages above.
in_root "${go_env[@]}" GOPATH=/build/gopath:/usr/share/gocode GO111MODULE=off GOPROXY=off \
  GOFLAGS= CGO_ENABLED=0 GOCACHE=/build/gocache \
  go build -v -trimpath \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitTreeState=clean" \
  -o /build/apiextensions-apiserver k8s.io/apiextensions-apiserver 2>&1 \
  | sed -u 's/^/[build-apiextensions-apiserver]   /' >&2
built="$root/build/apiextensions-apiserver"
[[ -x $built ]] || { log "apiextensions-apiserver was not produced"; exit 1; }
install -m 0755 "$built" "$BINARY.tmp"
mv "$BINARY.tmp" "$BINARY"
log "cached $BINARY"
echo "$BINARY"
exit 0
}
