#!/usr/bin/env bash
# Builds Kiln (Release) when needed and runs the `kiln` command with the given arguments.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dll="$here/src/Kiln.Cli/bin/Release/net10.0/kiln.dll"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [ ! -f "$dll" ] || [ -n "$(find "$here/src" "$here/proto" "$here/ui/src" -newer "$dll" -type f \( -name '*.cs' -o -name '*.proto' -o -name '*.csproj' -o -name '*.bpf.o' -o -name '*.ts' -o -name '*.tsx' -o -name '*.css' \) -print -quit)" ]; then
  dotnet build "$here/src/Kiln.Cli" -c Release -nologo -v quiet >&2
fi
exec dotnet "$dll" "$@"
