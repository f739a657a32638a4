#!/usr/bin/env bash
# Packs stagemeter with `npm pack`, installs the tarball into a fresh TypeScript project and
# compiles and runs the contract's examples under both decorator modes, plus an ESM import,
# worker threads, child and tracked processes, the OpenTelemetry export with the optional peer
# dependency installed, and every `stagemeter` command on reports of the packed package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
cd "$work"
mkdir unpacked && tar -xzf "$tarball" -C unpacked
node "$root/.ci/links-check.mjs" unpacked/package
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "./$tarball" "typescript@$(node -p "require('$root/node_modules/typescript/package.json').version")" "@types/node@20" >/dev/null
cp "$root/.ci/consumer/contract.ts" "$root/.ci/consumer/esm.mjs" "$root/.ci/consumer/threads.mjs" "$root/.ci/consumer/cli.mjs" "$root/.ci/consumer/otel.mjs" "$root/.ci/consumer/processes.mjs" .
for mode in standard experimental; do
  extra=''
  [ "$mode" = experimental ] && extra='"experimentalDecorators": true, "emitDecoratorMetadata": true,'
  cat > "tsconfig.$mode.json" <<JSON
{ "compilerOptions": { $extra "target": "ES2022", "module": "node20", "strict": true, "types": ["node"], "outDir": "out-$mode", "skipLibCheck": false }, "files": ["contract.ts"] }
JSON
  npx tsc -p "tsconfig.$mode.json"
  echo -n "$mode decorators: "
  node "out-$mode/contract.js"
done
node esm.mjs
node threads.mjs
STAGEMETER_OUTPUT="$work/zero/run.json" node processes.mjs
grep -q '"children"' "$work/zero/run.json" || { echo "the parent's report does not list its child"; exit 1; }
# the optional peer dependency and an SDK, at the versions the repository tests against
otel_versions="$(cd "$root" && node -p "['@opentelemetry/api', '@opentelemetry/sdk-trace-base'].map((p) => p + '@' + require('./node_modules/' + p + '/package.json').version).join(' ')")"
npm install --no-audit --no-fund --loglevel=error $otel_versions >/dev/null
node otel.mjs
node cli.mjs
npx stagemeter validate reports/base.json
npx stagemeter summary reports/base.json >/dev/null
npx stagemeter html reports/base.json && test -s reports/base.html
npx stagemeter trace reports/base.json && test -s reports/base.trace.json
npx stagemeter merge reports/base.json reports/head.json -o reports/all.json && npx stagemeter validate reports/all.json
npx stagemeter diff reports/base.json reports/base.json >/dev/null
set +e
npx stagemeter diff reports/base.json reports/head.json > diff.txt
gate=$?
set -e
[ "$gate" = 1 ] && grep -q score diff.txt || { echo "the diff gate did not fail on the 3x slower stage (exit $gate)"; cat diff.txt; exit 1; }
echo "stagemeter commands: validate, summary, html, trace, merge, diff (gate exit 1 on score) ok"
echo "pack check passed: $tarball"
