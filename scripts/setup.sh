#!/bin/sh
# setup.sh installs everything nextconv's tests, golden-data script and CUDA
# build checks need on Debian 12 (bookworm). It is idempotent: run it as often
# as you like; packages already present are left alone.
#
#   nvidia-cuda-toolkit, nvidia-cuda-dev, libcuda1  nvcc 11.8 (go generate ./kernels/...), and for go build
#                                                   -tags cuda: cuda.h, the header-only NVTX v3, libcuda
#                                                   (non-free); libcublas.so.11, which the cuBLAS loader's
#                                                   tests load when present (never linked)
#   libopenblas-dev, libopenblas0-pthread           the CPU backend's SGEMM through cgo; PyTorch's BLAS
#   python3-torch, python3-torchvision              golden test data and the CPU speed comparison
#   dataset-fashion-mnist                           the real data the end-to-end training runs on
#   protobuf-compiler, protoc-gen-go                protoc and its Go plugin (APIv2, google.golang.org/protobuf
#                                                   1.28.1) for export/onnx/onnxpb/generate.sh; the generated
#                                                   code is committed, so builds need neither
#   nodejs, npm; onnxruntime-node@1.30.0           ONNX Runtime, the checker of ONNX exports (scripts/ort/run.mjs);
#                                                   installed into tools/ort/node_modules (git-ignored)
set -eu

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# CUDA and libcuda are in Debian's non-free section. Add contrib and
# non-free from the Debian mirror this system already uses (its first
# source with the main component in a suite other than -security, from
# /etc/apt/sources.list or a deb822 file in sources.list.d), with the same
# suites and keyring, so a machine on a local or snapshot mirror stays on it.
NONFREE=/etc/apt/sources.list.d/nextconv-nonfree.sources
mirror=$(
	{
		[ ! -f /etc/apt/sources.list ] || sed 's/^/L /' /etc/apt/sources.list
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && [ "$f" != "$NONFREE" ] || continue
			sed 's/^/S /' "$f"
			echo "S "
		done
	} | awk '
	# A one-line entry: deb [options] URI suite component...
	$1 == "L" && $2 == "deb" {
		i = 3; signed = ""
		if ($i ~ /^\[/) {
			for (; i <= NF; i++) {
				if ($i ~ /signed-by=/) { signed = $i; sub(/.*signed-by=/, "", signed); sub(/\]$/, "", signed) }
				if ($i ~ /\]$/) { i++; break }
			}
		}
		uri = $i; suite = $(i + 1); main = 0
		for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
		if (main && suite !~ /-security$/ && (found == "" || found == uri)) {
			if (found == "") keyring = signed
			found = uri; suites = suites (suites == "" ? "" : " ") suite
		}
		next
	}
	# A deb822 stanza, one field a line, stanzas ended by blank lines.
	$1 == "S" {
		sub(/^S ?/, "")
		if ($0 ~ /^[ \t]*#/) next
		if ($0 ~ /^[ \t]*$/) {
			if (found == "" && types ~ /(^| )deb( |$)/ && comps ~ /(^| )main( |$)/ && ssuites != "" && ssuites !~ /-security/) {
				split(uris, u, " "); found = u[1]; suites = ssuites; keyring = ssigned
			}
			types = uris = ssuites = comps = ssigned = ""
			next
		}
		key = $1; sub(/^[^:]*:[ \t]*/, "")
		if (key == "Types:") types = $0
		else if (key == "URIs:") uris = $0
		else if (key == "Suites:") ssuites = $0
		else if (key == "Components:") comps = $0
		else if (key == "Signed-By:") ssigned = $0
	}
	END { if (found != "") print found "|" suites "|" keyring }'
)
if [ -z "$mirror" ]; then
	echo "setup: no Debian source with the main component in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources; configure apt first" >&2
	exit 1
fi
want=$(
	IFS='|'
	set -- $mirror
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: contrib non-free\n' "$1" "$2"
	[ -z "${3:-}" ] || printf 'Signed-By: %s\n' "$3"
)
if [ "$(cat "$NONFREE" 2>/dev/null)" != "$want" ]; then
	printf '%s\n' "$want" | $SUDO tee "$NONFREE" >/dev/null
	echo "setup: wrote $NONFREE"
fi

PKGS="nvidia-cuda-toolkit nvidia-cuda-dev libcuda1 libopenblas-dev libopenblas0-pthread python3-torch python3-torchvision dataset-fashion-mnist protobuf-compiler protoc-gen-go"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

# ONNX Runtime for Node: the package ships its CPU library, so its install
# script (which would download GPU binaries) is not needed.
ORT_VERSION=1.30.0
if ! command -v npm >/dev/null; then
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
ORT_DIR="$(cd "$(dirname "$0")/.." && pwd)/tools/ort"
if [ "$(cat "$ORT_DIR/node_modules/onnxruntime-node/package.json" 2>/dev/null | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' | head -1)" != "$ORT_VERSION" ]; then
	echo "setup: installing onnxruntime-node@$ORT_VERSION into $ORT_DIR"
	mkdir -p "$ORT_DIR"
	npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund --no-save "onnxruntime-node@$ORT_VERSION"
fi
echo "setup: all packages present"
