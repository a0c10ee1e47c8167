#!/usr/bin/env bash
# Builds Kiln and runs every test suite; prints one summary line per suite and a total.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet build Kiln.slnx -c Release -warnaserror -nologo -v quiet

passed=0; failed=0; skipped=0; status=0
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  log=$(mktemp)
  if dotnet test "$project" -c Release --no-build --nologo -v quiet >"$log" 2>&1; then :; else status=1; fi
  # "Passed!  - Failed: 0, Passed: 42, Skipped: 0, Total: 42, Duration: 3 s - X.dll"
  line=$(grep -E '(Passed|Failed)! +- ' "$log" | tail -1 || true)
  if [ -z "$line" ]; then
    cat "$log"; echo "$name: no test summary"; status=1; rm -f "$log"; continue
  fi
  grep -q "^Failed!" <<<"$line" && grep -E "^\s+Failed |Error Message|Assert\.|   at Kiln" "$log" | head -80 || true
  p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$line"); f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$line"); s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$line")
  echo "$name: $p passed, $f failed, $s skipped"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  rm -f "$log"
done
# The web UI: vitest unit tests, then end to end (a real kiln server from the build above, Debian's Chromium).
for suite in "ui:test" "ui-e2e:e2e"; do
  name=${suite%%:*}
  log=$(mktemp)
  if (cd ui && NO_COLOR=1 npm run --silent "${suite#*:}") >"$log" 2>&1; then ok=1; else ok=0; status=1; fi
  # "      Tests  2 failed | 40 passed | 1 skipped (43)"
  line=$(grep -E '^ +Tests +[0-9]' "$log" | tail -1 || true)
  count() { grep -oE "[0-9]+ $1" <<<"$line" | grep -oE '[0-9]+' || echo 0; }
  p=$(count passed); f=$(count failed); s=$(count skipped)
  # A suite that fails outside any test (a hook, a missing browser) still counts as a failure.
  if [ "$ok" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$ok" -eq 0 ] || [ -z "$line" ]; then grep -vE '^npm (warn|notice)' "$log" | tail -80; fi
  [ "$name" = ui-e2e ] && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] && echo "ui-e2e: skipped: needs Chromium (apt-get install chromium); CI installs it"
  echo "$name: $p passed, $f failed, $s skipped"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  rm -f "$log"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && exit $status || exit 1
