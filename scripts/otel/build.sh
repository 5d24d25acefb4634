#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the export itests send to, from the
# upstream Go modules through the Go module proxy, once per machine: the
# core collector (otelcol) with the OTLP receiver (gRPC and HTTP), the
# contrib file exporter, which writes what it received as OTLP JSON — the
# ground truth the tests compare with — and the nop exporter (the export
# benchmark's sink). Prints the binary's path; quick when cached.
#
#   scripts/otel/build.sh            # -> $LOUPE_OTELCOL (default ~/.cache/loupe/otelcol-v0.161.0-nop/otelcol)
set -euo pipefail
# One release for every collector module: the newest at which the contrib
# file exporter resolves on this Go (go 1.26).
OTEL_VERSION=v0.161.0
# The folder names the build's contents too: a machine with an older build
# (no nop exporter) builds this one.
out="${LOUPE_OTELCOL:-$HOME/.cache/loupe/otelcol-$OTEL_VERSION-nop/otelcol}"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$(dirname "$out")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "otel: building the OpenTelemetry Collector $OTEL_VERSION from the Go module proxy (once per machine, a few minutes)" >&2
cd "$work"
printf 'module loupe.local/otelcol\n\ngo 1.26.0\n' >go.mod
cat >main.go <<'GO'
// A minimal OpenTelemetry Collector: OTLP in, OTLP JSON files out.
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](fileexporter.NewFactory(), nopexporter.NewFactory()); err != nil {
		return f, err
	}
	return f, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol", Description: "OTLP receiver and file exporter (Loupe's tests)", Version: "VERSION"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
				DefaultScheme:     "env",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}
GO
sed -i "s/VERSION/${OTEL_VERSION#v}/" main.go
export GOFLAGS=-mod=mod
# Go's build cache (4 GB for these) is worth nothing once the binaries are
# cached: it goes with the work folder.
export GOCACHE="$work/go-build"
go get "go.opentelemetry.io/collector/otelcol@$OTEL_VERSION" \
  "go.opentelemetry.io/collector/receiver/otlpreceiver@$OTEL_VERSION" \
  "go.opentelemetry.io/collector/exporter/nopexporter@$OTEL_VERSION" \
  "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter@$OTEL_VERSION" >&2
go mod tidy >&2
go build -trimpath -ldflags="-s -w" -o "$out.tmp" . >&2
mv "$out.tmp" "$out"
echo "$out"
