#!/bin/sh
# fuzz.sh runs every Go fuzz target of the module (each func FuzzXxx of a
# _test.go file, found with go test -list, so new targets join without
# editing this script) for a short time each: the seed corpus in
# testdata/fuzz plus FUZZTIME of new inputs. A failing input is written to
# the package's testdata/fuzz/FuzzXxx, where go test replays it from then on.
#
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 30000x; any go test -fuzztime value)
#
# The default is a count of inputs, not a duration: with a duration, Go
# 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" when a busy worker misses the deadline
# (go.dev/issue/75804, fixed in Go 1.27), which failed CI with no crasher.
# 30,000 inputs take 1 to 10 s a target here.
set -eu
cd "$(dirname "$0")/.."

FUZZTIME=${1:-30000x}
pkgs=$(git ls-files --cached --others --exclude-standard '*_test.go' |
	xargs grep -l '^func Fuzz' | xargs -r -n1 dirname | sort -u)
n=0
for p in $pkgs; do
	for f in $(go test -list '^Fuzz' "./$p" | grep '^Fuzz'); do
		echo "fuzz: ./$p $f for $FUZZTIME"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "./$p"
		n=$((n + 1))
	done
done
echo "fuzz: $n targets, $FUZZTIME each"
