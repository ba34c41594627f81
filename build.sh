#!/usr/bin/env bash
# ReliableKafka build entry point.
#
#   ./build.sh            build (Release)
#   ./build.sh test       build, then run the unit and integration tests and the fault-injection suite, and print the totals
#   ./build.sh faults     build, then run only the fault-injection suite (RELIABLEKAFKA_FAULT_SEED=n replays a seed)
#   ./build.sh demo       run the order-processing demo on the embedded Kafka cluster
#   ./build.sh bench      run the benchmarks in bench/ (when there are any)
#   ./build.sh postgres   only make sure a PostgreSQL server runs and print its connection string (eng/provision-postgresql.sh)
#
# The native librdkafka comes from NuGet with Confluent.Kafka (librdkafka.redist); nothing is built or installed
# for it. `test` and `bench` make sure a PostgreSQL server runs for the PostgreSQL deduplication store (installing
# Debian's when missing) and pass its connection string in RELIABLEKAFKA_POSTGRESQL (set it yourself to use a
# server of your own). With CI=true no test may be skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
readonly CONFIGURATION="${CONFIGURATION:-Release}"
readonly RESULTS_DIR="${ROOT}/artifacts/test-results"

cd "${ROOT}"

die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

require_dotnet() {
  command -v dotnet >/dev/null 2>&1 || die "the .NET SDK 10 is required (dotnet was not found on PATH)."
}

provision_postgresql() {
  local connection
  connection="$(bash "${ROOT}/eng/provision-postgresql.sh")" || die "PostgreSQL could not be provisioned (see above)."
  export RELIABLEKAFKA_POSTGRESQL="${connection}"
}

build() {
  dotnet build "${ROOT}/ReliableKafka.sln" -c "${CONFIGURATION}" --nologo -v minimal
}

# Prints attribute $1 of the <Counters> element of .trx file $2 (0 when absent).
trx_counter() {
  local v
  v="$(grep -o '<Counters [^>]*>' "$2" | head -n 1 | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p")"
  printf '%s' "${v:-0}"
}

# Sums the counters of every .trx file written by this run and prints one totals line.
print_totals() {
  local total=0 passed=0 failed=0 skipped=0 file
  for file in "${RESULTS_DIR}"/*.trx; do
    [[ -f "${file}" ]] || continue
    total=$((total + $(trx_counter total "${file}")))
    passed=$((passed + $(trx_counter passed "${file}")))
    failed=$((failed + $(trx_counter failed "${file}")))
    skipped=$((skipped + $(trx_counter notExecuted "${file}")))
  done
  printf '\nTest totals: %d total, %d passed, %d failed, %d skipped\n' "${total}" "${passed}" "${failed}" "${skipped}"
  if ((total == 0)); then die "no test results were found in ${RESULTS_DIR}."; fi
  if [[ "${CI:-}" == "true" ]] && ((skipped > 0)); then die "${skipped} test(s) were skipped; CI runs every test."; fi
}

# Runs one test project (optionally filtered) into its own .trx file; returns non-zero when tests failed.
run_test_project() {
  local project="$1" name="$2" filter="${3:-}"
  local args=(test "${project}" -c "${CONFIGURATION}" --no-build --nologo
    --logger "trx;LogFileName=${RESULTS_DIR}/${name}.trx" --logger "console;verbosity=normal" --blame-hang-timeout 5m
    --blame-crash --blame-crash-dump-type mini --results-directory "${RESULTS_DIR}/${name}")
  if [[ -n "${filter}" ]]; then args+=(--filter "${filter}"); fi
  dotnet "${args[@]}"
}

# Prints the fault scenarios' lines (each scenario appends its line to faults.txt).
print_fault_lines() {
  if [[ -f "${RESULTS_DIR}/faults.txt" ]]; then
    printf '\nFault-injection suite:\n'
    cat "${RESULTS_DIR}/faults.txt"
  fi
}

run_tests() {
  rm -rf "${RESULTS_DIR}"
  mkdir -p "${RESULTS_DIR}"
  local status=0
  run_test_project tests/ReliableKafka.Tests ReliableKafka.Tests || status=1
  run_test_project tests/ReliableKafka.IntegrationTests ReliableKafka.IntegrationTests "Category!=Faults" || status=1
  run_test_project tests/ReliableKafka.IntegrationTests ReliableKafka.FaultTests "Category=Faults" || status=1
  print_fault_lines
  print_totals
  if ((status != 0)); then printf 'A test run failed or was aborted (see above).\n' >&2; fi
  return "${status}"
}

run_faults() {
  rm -rf "${RESULTS_DIR}"
  mkdir -p "${RESULTS_DIR}"
  local status=0
  run_test_project tests/ReliableKafka.IntegrationTests ReliableKafka.FaultTests "Category=Faults" || status=1
  print_fault_lines
  print_totals
  return "${status}"
}

main() {
  local command="${1:-build}"
  shift || true
  require_dotnet
  case "${command}" in
    build) build ;;
    test) provision_postgresql; build; run_tests ;;
    faults) build; run_faults ;;
    demo) dotnet run --project samples/ReliableKafka.Samples.Orders -c "${CONFIGURATION}" -- "$@" ;;
    bench)
      provision_postgresql
      if compgen -G "bench/*/*.csproj" >/dev/null; then
        local project
        for project in bench/*/*.csproj; do dotnet run --project "${project}" -c Release -- "$@"; done
      else
        echo "bench/ has no benchmarks yet."
      fi
      ;;
    postgres) provision_postgresql; printf '%s\n' "${RELIABLEKAFKA_POSTGRESQL}" ;;
    *) die "unknown command '${command}'. Commands: build, test, faults, demo, bench, postgres." ;;
  esac
}

main "$@"
