#!/usr/bin/env bash
# Bounded fuzzing for CI: builds every cargo-fuzz target, then runs each for SECONDS (default 60)
# from a temporary copy of its seed corpus (corpus/<target>/, so CI never writes into the
# repository) with the dictionary corpus/cpu.dict. Exit 1 if any target crashes, times out or
# runs out of memory; the crashing input is printed (path, hex and base64) and kept under
# fuzz/artifacts/<target>/ (git-ignored). Exit 2 if the build fails.
#
#   fuzz/ci.sh [SECONDS]            all targets
#   FUZZ_TARGETS="cpu_xml_parse" fuzz/ci.sh 30
#
# The machine's toolchain is stable; cargo-fuzz needs nightly flags, hence RUSTC_BOOTSTRAP=1.
# Targets are built like `cargo fuzz run` does by default: optimised, with debug assertions,
# overflow checks and AddressSanitizer. Each target runs in one process (libFuzzer's default:
# one worker, no -jobs, so its whole log, crash report included, lands in our log file).
set -uo pipefail

seconds="${1:-60}"
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$fuzz_dir")"
targets="${FUZZ_TARGETS:-cpu_xml_parse cpu_xml_roundtrip cpuid_data_parse capabilities_parse cpu_map_parse baseline_laws host_scanner}"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

# Largest input per target: documents a few times the largest seed; the map target needs room
# for an index plus includes; structured input stays small (it only indexes into the map).
max_len() {
  case "$1" in
    cpu_map_parse) echo 65536 ;;
    baseline_laws) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

# The cargo-fuzz release CI uses (pinned: its flags and corpus handling change between releases).
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "cargo-fuzz $CARGO_FUZZ_VERSION not found: installing it (cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked || exit 2
fi
cargo fuzz --version

cd "$repo" || exit 2
echo "=== building fuzz targets"
if ! cargo fuzz build; then
  echo "fuzz: build failed" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cpufleet-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failed=()
summary=()
for t in $targets; do
  echo
  echo "=== fuzzing $t for ${seconds}s"
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  if [ -d "corpus/$t" ]; then
    cp -R "corpus/$t/." "$work/$t/corpus/"
  fi
  log="$work/$t/log"
  cargo fuzz run "$t" "$work/$t/corpus" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -dict="$repo/corpus/cpu.dict" \
    -artifact_prefix="$work/$t/artifacts/" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  summary+=("$t: rc=$rc execs=${execs:-?}")
  tail -n 5 "$log"
  crashes=("$work/$t/artifacts/"*)
  if [ "$rc" -ne 0 ] || [ -e "${crashes[0]}" ]; then
    failed+=("$t")
    echo "!!! $t failed (exit $rc). Last lines of its log:" >&2
    tail -n 40 "$log" >&2
    mkdir -p "$fuzz_dir/artifacts/$t"
    for f in "${crashes[@]}"; do
      [ -e "$f" ] || continue
      cp "$f" "$fuzz_dir/artifacts/$t/"
      echo "--- crashing input: fuzz/artifacts/$t/$(basename "$f") ($(wc -c <"$f") bytes)" >&2
      echo "hex:" >&2
      od -An -tx1 -v "$f" | head -n 64 >&2
      echo "base64:" >&2
      base64 "$f" | head -n 64 >&2
      echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t fuzz/artifacts/$t/$(basename "$f")" >&2
    done
  fi
done

echo
echo "=== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash"
