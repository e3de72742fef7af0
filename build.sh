#!/usr/bin/env bash
# ConvEngine build script.
#   ./build.sh test    restore, build Release, run every test (full SIMD, then the SIMD tests with AVX-512 off, AVX off, all intrinsics off)
#   ./build.sh train   train LeNet-5 on Fashion-MNIST and report test accuracy (installs the dataset when it can)
#   ./build.sh bench   run the BenchmarkDotNet suite (pass extra BenchmarkDotNet arguments after it)
#   ./build.sh pack    build Release and pack every packable project (.nupkg + .snupkg) into artifacts/packages/
#   ./build.sh consumer  run only the packaging tests: pack into a temporary feed, build and run a fresh consumer project
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET SDK (10.0.100 or later) is required: https://dotnet.microsoft.com/download" >&2
    exit 1
  fi
}

# Installs Debian packages when we are root (or have sudo) and apt exists; otherwise says what is missing and returns 1.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

run_tests() {
  need_dotnet
  # The GPU conformance tests run the OpenCL backend for real on PoCL (OpenCL on the CPU), clang compiles every kernel
  # as CUDA C to PTX, and the data tests read the real Fashion-MNIST files. Without them those tests report Ignore with
  # the reason instead of running.
  apt_install pocl-opencl-icd ocl-icd-libopencl1 clang dataset-fashion-mnist ||
    echo "warning: could not install pocl-opencl-icd ocl-icd-libopencl1 clang dataset-fashion-mnist (needs root or sudo, and apt): the OpenCL, CUDA-compile and Fashion-MNIST tests will be ignored" >&2
  dotnet build ConvEngine.sln -c Release -nologo -clp:ErrorsOnly
  local results=TestResults
  rm -rf "$results"; mkdir -p "$results"
  local status=0
  # Pass 1: everything with the full instruction set. The other passes rerun the SIMD kernel tests (category Simd) with
  # AVX-512 off (256-bit kernels; on .NET 10 the knob that does it is EnableAVX512, EnableAVX512F alone is ignored),
  # with AVX off (the portable Vector<T> path at 128 bits) and with all hardware intrinsics off (scalar fallbacks).
  dotnet test Engine.Tests/Engine.Tests.csproj -c Release --no-build --logger "trx;LogFileName=full.trx" --results-directory "$results" || status=1
  local pass
  for pass in "DOTNET_EnableAVX512F=0 DOTNET_EnableAVX512=0:noavx512" "DOTNET_EnableAVX=0:noavx" "DOTNET_EnableHWIntrinsic=0:nointrinsics"; do
    env ${pass%%:*} dotnet test Engine.Tests/Engine.Tests.csproj -c Release --no-build --filter "TestCategory=Simd" \
      --logger "trx;LogFileName=${pass##*:}.trx" --results-directory "$results" || status=1
  done
  return $status
}

cmd="${1:-test}"
shift || true
case "$cmd" in
  test) run_tests ;;
  train)
    need_dotnet
    data=/usr/share/datasets/fashion-mnist
    if [ ! -d "$data" ]; then apt_install dataset-fashion-mnist || true; fi
    if [ -d "$data" ]; then set -- --data "$data" "$@"; else
      echo "Fashion-MNIST not found at $data and it could not be installed (needs root or sudo, and apt): training on the built-in Shapes set instead." >&2
      set -- --data shapes "$@"
    fi
    dotnet run --project Engine.Cli -c Release -- train --model lenet5 "$@"
    ;;
  bench)
    need_dotnet
    # With no arguments, run every benchmark (BenchmarkDotNet would otherwise ask interactively which one).
    [ $# -eq 0 ] && set -- --filter '*'
    dotnet run --project Benchmarks -c Release -- "$@"
    ;;
  pack)
    need_dotnet
    rm -rf artifacts/packages
    commit_arg=()
    if command -v git >/dev/null 2>&1 && commit=$(git rev-parse HEAD 2>/dev/null); then commit_arg=("-p:RepositoryCommit=$commit"); fi
    # Packs every packable project of the solution (tests, benchmarks and helper programs set IsPackable=false).
    dotnet pack ConvEngine.sln -c Release -nologo -clp:ErrorsOnly "${commit_arg[@]}" "$@"
    ls -l artifacts/packages
    ;;
  consumer)
    need_dotnet
    tools/consumer-test.sh "$@"
    ;;
  *) echo "usage: ./build.sh [test|train|bench|pack|consumer]" >&2; exit 2 ;;
esac
