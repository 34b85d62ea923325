#!/usr/bin/env bash
# Build kube-apiserver v1.20.2 from Debian bookworm's own `kubernetes` source package, once, and cache it.
#
#   bash build-kube-apiserver.sh            # prints the cached binary's path
#
# The binary lands in ${ACR_ECI_CACHE:-~/.cache/acr-eci-operator}/kube-apiserver-1.20.2-pN; nothing is
# written inside the repository. Needs root (apt-get) the first time; takes 5-10 minutes cold on 2 cores.
set -euo pipefail

# The whole script is one block, parsed before it runs: editing the file mid-build cannot break it.
{

KUBE_SRC_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
CACHE="${ACR_ECI_CACHE:-$HOME/.cache/acr-eci-operator}"
# The name changes with the recipe (p1: the kube-openapi empty-string fix), so an older build is not reused.
BINARY="$CACHE/kube-apiserver-1.20.2-p1"

log() { printf '[build-kube-apiserver] %s\n' "$*" >&2; }

if [[ -x "$BINARY" ]]; then
  echo "$BINARY"
  exit 0
fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

need_debs=()
for pkg in golang-go golang-github-modern-go-reflect2-dev dpkg-dev make rsync etcd-server openssl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_debs+=("$pkg")
done
src_list=/etc/apt/sources.list.d/acr-eci-operator-src.sources
if [[ ! -f $src_list ]]; then
  log "adding a deb-src entry for bookworm main ($src_list)"
  as_root tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fresh_sources=1
fi
if (( ${#need_debs[@]} )) || [[ -n ${fresh_sources:-} ]]; then
  log "apt-get update"
  as_root apt-get update -qq
fi
if (( ${#need_debs[@]} )); then
  log "installing ${need_debs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching the kubernetes source package $KUBE_SRC_VERSION"
apt-get source -qq --download-only "kubernetes=$KUBE_SRC_VERSION" >/dev/null
log "unpacking"
dpkg-source -x --skip-debianization "kubernetes_${KUBE_SRC_VERSION#*:}.dsc" src >/dev/null 2>&1 \
  || dpkg-source -x "kubernetes_${KUBE_SRC_VERSION#*:}.dsc" src >/dev/null
# reflect2 v1.0.1 as vendored crashes under Go 1.19 on the first custom-resource write: use Debian's 1.0.2.
rm -rf src/vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 src/vendor/github.com/modern-go/reflect2
# Since Go 1.16 reflect.Zero returns a shared zero buffer, and the vendored kube-openapi's zero-value check
# in the custom-resource type validator then takes "" for null: every empty string in a custom resource
# is refused (kubernetes#99804). Apply the upstream fix (kube-openapi#230).
type_go=src/vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go
sed -i 's/^\tif data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {$/\tif data == nil {/' "$type_go"
if grep -qF 'reflect.Zero(reflect.TypeOf(data))' "$type_go" || ! grep -qF $'\tif data == nil {' "$type_go"; then
  log "the kube-openapi zero-value patch did not apply"
  exit 1
fi
mkdir -p gopath/src/k8s.io
ln -s "$work/src" gopath/src/k8s.io/kubernetes
log "compiling cmd/kube-apiserver (several minutes)"
cd gopath/src/k8s.io/kubernetes
GOPATH="$work/gopath" GOCACHE="$work/gocache" CGO_ENABLED=0 GOPROXY=off GO111MODULE=off GOFLAGS= \
  KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean \
  make WHAT=cmd/kube-apiserver 2>&1 | sed -u 's/^/[build-kube-apiserver]   /' >&2
built=$(find "$work/src/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
[[ -n $built ]] || { log "kube-apiserver was not produced"; exit 1; }
install -m 0755 "$built" "$BINARY.tmp"
mv "$BINARY.tmp" "$BINARY"
log "cached $BINARY"
echo "$BINARY"
exit 0
}
