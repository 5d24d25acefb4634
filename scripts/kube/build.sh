#!/usr/bin/env bash
# Builds the real Kubernetes peers the itests run, from upstream Go modules
# through the Go module proxy, once per machine: kube-apiserver (the way
# controller-runtime's envtest runs it: no kubelet, no controller-manager)
# and etcd, and helm (for the chart). Prints the directory that holds
# them. Quick when cached.
#
#   scripts/kube/build.sh            # -> $LOUPE_KUBE_DIR (default ~/.cache/loupe/kube-v1.37.2)
#
# k8s.io/kubernetes is built as a dependency of a small module here, with
# each of its staging modules (`=> ./staging/...` in its own go.mod)
# replaced by the matching v0.37.2 release.
set -euo pipefail
K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16
HELM_VERSION=v4.3.2
out="${LOUPE_KUBE_DIR:-$HOME/.cache/loupe/kube-$K8S_VERSION}"
# An apiserver built without its version stamped says v0.0.0 (clients
# such as helm check it): such a build is replaced.
if [ -x "$out/kube-apiserver" ] && ! "$out/kube-apiserver" --version 2>/dev/null | grep -q "$K8S_VERSION"; then
  rm -f "$out/kube-apiserver"
fi
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ -x "$out/helm" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
  kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming)
export GOFLAGS=-mod=mod
# Go's build cache (4 GB for these) is worth nothing once the binaries are
# cached: it goes with the work folder.
export GOCACHE="$work/go-build"
if [ ! -x "$out/kube-apiserver" ]; then
  echo "kube: building kube-apiserver $K8S_VERSION from the Go module proxy (once per machine, a few minutes)" >&2
  mkdir -p "$work/apiserver"
  cd "$work/apiserver"
  {
    echo "module loupe.local/kube"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do echo "	k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
    echo ")"
  } >go.mod
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" >&2
  v=k8s.io/component-base/version
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  go build -tags providerless -trimpath \
    -ldflags="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
  mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
fi
if [ ! -x "$out/etcd" ]; then
  echo "kube: building etcd $ETCD_VERSION from the Go module proxy (once per machine)" >&2
  mkdir -p "$work/etcd"
  cd "$work/etcd"
  printf 'module loupe.local/etcd\n\ngo 1.26.0\n' >go.mod
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -ldflags="-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  mv "$out/etcd.tmp" "$out/etcd"
fi
# Helm, to lint the chart in k8s/deploy and install it into the test's API
# server.
if [ ! -x "$out/helm" ]; then
  echo "kube: building helm $HELM_VERSION from the Go module proxy (once per machine)" >&2
  mkdir -p "$work/helm"
  cd "$work/helm"
  printf 'module loupe.local/helm\n\ngo 1.26.0\n' >go.mod
  go get "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
  go build -trimpath -ldflags="-s -w" -o "$out/helm.tmp" helm.sh/helm/v4/cmd/helm >&2
  mv "$out/helm.tmp" "$out/helm"
fi
echo "$out"
