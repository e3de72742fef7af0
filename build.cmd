@echo off
rem ConvEngine build script for Windows: build.cmd test | train | bench | pack
setlocal
cd /d "%~dp0"
set DOTNET_CLI_TELEMETRY_OPTOUT=1
set DOTNET_NOLOGO=1
set CMD=%1
if "%CMD%"=="" set CMD=test
if /I "%CMD%"=="test" goto test
if /I "%CMD%"=="train" goto train
if /I "%CMD%"=="bench" goto bench
if /I "%CMD%"=="pack" goto pack
echo usage: build.cmd [test^|train^|bench^|pack]
exit /b 2
:test
dotnet build ConvEngine.sln -c Release -nologo -clp:ErrorsOnly || exit /b 1
set STATUS=0
dotnet test Engine.Tests\Engine.Tests.csproj -c Release --no-build || set STATUS=1
set DOTNET_EnableAVX512F=0
set DOTNET_EnableAVX512=0
dotnet test Engine.Tests\Engine.Tests.csproj -c Release --no-build --filter "TestCategory=Simd" || set STATUS=1
set DOTNET_EnableAVX512F=
set DOTNET_EnableAVX512=
set DOTNET_EnableAVX=0
dotnet test Engine.Tests\Engine.Tests.csproj -c Release --no-build --filter "TestCategory=Simd" || set STATUS=1
set DOTNET_EnableAVX=
set DOTNET_EnableHWIntrinsic=0
dotnet test Engine.Tests\Engine.Tests.csproj -c Release --no-build --filter "TestCategory=Simd" || set STATUS=1
exit /b %STATUS%
:train
if exist "%~dp0data\fashion-mnist" (
  dotnet run --project Engine.Cli -c Release -- train --model lenet5 --data "%~dp0data\fashion-mnist" %2 %3 %4 %5 %6 %7 %8 %9
) else (
  echo Fashion-MNIST not found in data\fashion-mnist: training on the built-in Shapes set instead.
  dotnet run --project Engine.Cli -c Release -- train --model lenet5 --data shapes %2 %3 %4 %5 %6 %7 %8 %9
)
exit /b %ERRORLEVEL%
:bench
dotnet run --project Benchmarks -c Release -- %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%
:pack
rem Packs every packable project (.nupkg + .snupkg) into artifacts\packages.
if exist artifacts\packages rmdir /s /q artifacts\packages
set COMMIT=
for /f %%c in ('git rev-parse HEAD 2^>nul') do set COMMIT=-p:RepositoryCommit=%%c
dotnet pack ConvEngine.sln -c Release -nologo -clp:ErrorsOnly %COMMIT% || exit /b 1
dir /b artifacts\packages
exit /b 0
