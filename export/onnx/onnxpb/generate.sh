#!/bin/sh
# generate.sh regenerates onnx.pb.go from onnx.proto (ONNX v1.16.2) with
# Debian 12's protoc 3.21.12 (protobuf-compiler) and protoc-gen-go v1.28.1
# (protoc-gen-go), both installed by scripts/setup.sh. The output is
# committed, so building nextconv needs neither; go.mod pins
# google.golang.org/protobuf to the runtime that generator targets.
set -eu
cd "$(dirname "$0")"
protoc --go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/nextconv/nextconv/export/onnx/onnxpb \
	onnx.proto
