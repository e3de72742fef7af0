#!/usr/bin/env bash
# The consumer test on its own: builds the solution (Release) and runs the Packaging tests, which pack ConvEngine into a
# temporary local feed, check the package metadata, and build and run a fresh console project OUTSIDE the repository that
# references ConvEngine from that feed only (nuget.config with packageSourceMapping), trains LeNet-5 for an epoch on the
# built-in Shapes set, saves and reloads a checkpoint and must print an accuracy above 60 %.
# `./build.sh test` runs the same tests as part of the full suite (they are ordinary NUnit tests, category Packaging).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if [ "${1:-}" != "--no-build" ]; then dotnet build ConvEngine.sln -c Release -nologo -clp:ErrorsOnly; fi
dotnet test Engine.Tests/Engine.Tests.csproj -c Release --no-build --filter "TestCategory=Packaging" --logger "console;verbosity=normal"
