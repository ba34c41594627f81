#!/usr/bin/env bash
# ReliableKafka build entry point.
#
#   ./build.sh               build (Release)
#   ./build.sh test          build, then run the unit and integration tests on net10.0 and net8.0, the fault-injection
#                            suite on net10.0 and the package test, and print the totals
#   ./build.sh faults        build, then run only the fault-injection suite (RELIABLEKAFKA_FAULT_SEED=n replays a seed)
#   ./build.sh pack          pack the five libraries (Release) into artifacts/packages and check the packages
#                            (eng/check-packages.py); prints the version, which comes from git tags (MinVer)
#   ./build.sh package-test  pack, then build and run the apps in tests/PackagedConsumer against the packed packages
#                            (net8.0 on Microsoft.Extensions 8, net10.0 on 10)
#   ./build.sh demo          run the order-processing demo on the embedded Kafka cluster
#   ./build.sh bench         run the benchmarks in bench/ (when there are any)
#   ./build.sh postgres      only make sure a PostgreSQL server runs and print its connection string (eng/provision-postgresql.sh)
#
# The native librdkafka comes from NuGet with Confluent.Kafka (librdkafka.redist); nothing is built or installed
# for it. `test` and `bench` make sure a PostgreSQL server runs for the PostgreSQL deduplication store (installing
# Debian's when missing) and pass its connection string in RELIABLEKAFKA_POSTGRESQL (set it yourself to use a
# server of your own). With CI=true no test may be skipped. The net8.0 tests and the net8.0 packaged app run on the
# .NET 10 runtime (DOTNET_ROLL_FORWARD=Major) when no .NET 8 runtime is installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT
readonly CONFIGURATION="${CONFIGURATION:-Release}"
readonly RESULTS_DIR="${ROOT}/artifacts/test-results"
readonly PACKAGES_DIR="${ROOT}/artifacts/packages"
readonly PACKAGE_TEST_DIR="${ROOT}/artifacts/package-test"
readonly LIBRARIES=(src/ReliableKafka src/ReliableKafka.Sqlite src/ReliableKafka.PostgreSql src/ReliableKafka.Testing src/ReliableKafka.Dashboard)

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

provision_chromium() {
  bash "${ROOT}/eng/provision-chromium.sh" || die "Chromium could not be provisioned for the dashboard's browser tests (see above)."
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
  if ((failed > 0)); then python3 "${ROOT}/eng/print-failures.py" "${RESULTS_DIR}"/*.trx || true; fi
  printf '\nTest totals: %d total, %d passed, %d failed, %d skipped\n' "${total}" "${passed}" "${failed}" "${skipped}"
  if ((total == 0)); then die "no test results were found in ${RESULTS_DIR}."; fi
  if [[ "${CI:-}" == "true" ]] && ((skipped > 0)); then die "${skipped} test(s) were skipped; CI runs every test."; fi
}

# Runs one test project on one target framework (optionally filtered) into its own .trx file; returns non-zero when
# tests failed. net8.0 runs on the newest installed runtime when .NET 8 is missing (DOTNET_ROLL_FORWARD=Major).
run_test_project() {
  local project="$1" framework="$2" name="$3" filter="${4:-}"
  local args=(test "${project}" -c "${CONFIGURATION}" --framework "${framework}" --no-build --nologo
    --logger "trx;LogFileName=${RESULTS_DIR}/${name}.trx" --logger "console;verbosity=normal" --blame-hang-timeout 5m
    --blame-crash --blame-crash-dump-type mini --results-directory "${RESULTS_DIR}/${name}")
  if [[ -n "${filter}" ]]; then args+=(--filter "${filter}"); fi
  if [[ "${framework}" == net8.0 ]]; then
    DOTNET_ROLL_FORWARD=Major dotnet "${args[@]}"
  else
    dotnet "${args[@]}"
  fi
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
  local status=0 package_status=0
  run_test_project tests/ReliableKafka.Tests net10.0 ReliableKafka.Tests || status=1
  run_test_project tests/ReliableKafka.IntegrationTests net10.0 ReliableKafka.IntegrationTests "Category!=Faults" || status=1
  run_test_project tests/ReliableKafka.Dashboard.Tests net10.0 ReliableKafka.Dashboard.Tests || status=1
  run_test_project tests/ReliableKafka.Tests net8.0 ReliableKafka.Tests.net8.0 || status=1
  run_test_project tests/ReliableKafka.IntegrationTests net8.0 ReliableKafka.IntegrationTests.net8.0 "Category!=Faults" || status=1
  run_test_project tests/ReliableKafka.Dashboard.Tests net8.0 ReliableKafka.Dashboard.Tests.net8.0 || status=1
  run_test_project tests/ReliableKafka.IntegrationTests net10.0 ReliableKafka.FaultTests "Category=Faults" || status=1
  ( package_test ) || package_status=1
  print_fault_lines
  if ((package_status == 0)); then
    printf '\nPackage test: passed (see "Package test results" above).\n'
  else
    printf '\nPackage test: FAILED (see above).\n' >&2
    status=1
  fi
  print_totals
  if ((status != 0)); then printf 'A test run failed or was aborted (see above).\n' >&2; fi
  return "${status}"
}

run_faults() {
  rm -rf "${RESULTS_DIR}"
  mkdir -p "${RESULTS_DIR}"
  local status=0
  run_test_project tests/ReliableKafka.IntegrationTests net10.0 ReliableKafka.FaultTests "Category=Faults" || status=1
  print_fault_lines
  print_totals
  return "${status}"
}

# Packs the libraries into a clean artifacts/packages, checks the packages, and sets PACKED_VERSION.
pack() {
  rm -rf "${PACKAGES_DIR}"
  mkdir -p "${PACKAGES_DIR}"
  local project
  for project in "${LIBRARIES[@]}"; do
    dotnet pack "${project}" -c Release --nologo -v minimal -o "${PACKAGES_DIR}" || die "packing ${project} failed."
  done
  PACKED_VERSION="$(python3 "${ROOT}/eng/check-packages.py" "${PACKAGES_DIR}")" || die "the packages in ${PACKAGES_DIR} failed their checks (see above)."
  printf 'Packed version %s into %s\n' "${PACKED_VERSION}" "${PACKAGES_DIR}"
}

# Builds and runs one app of tests/PackagedConsumer against the packed packages; returns non-zero when it failed.
run_packaged_consumer() {
  local variant="$1" framework="$2"
  local out="${PACKAGE_TEST_DIR}/${variant}"
  rm -rf "${out}"
  printf '\n== Package test %s (%s) ==\n' "${variant}" "${framework}"
  dotnet build "${ROOT}/tests/PackagedConsumer/${variant}" -c Release --nologo -v minimal -o "${out}" \
    "-p:ReliableKafkaVersion=${PACKED_VERSION}" || return 1
  if [[ "${framework}" == net8.0 ]]; then
    DOTNET_ROLL_FORWARD=Major dotnet "${out}/PackagedConsumer.${variant}.dll"
  else
    dotnet "${out}/PackagedConsumer.${variant}.dll"
  fi
}

# Packs, then restores the packed packages into apps outside the solution (net8.0 and net10.0) and runs them.
package_test() {
  pack
  # The apps restore into a packages folder of their own; the packed version is reused by the next pack, so drop it.
  rm -rf "${PACKAGE_TEST_DIR}"/packages/reliablekafka*
  local net8=passed net10=passed
  run_packaged_consumer Net8 net8.0 || net8=FAILED
  run_packaged_consumer Net10 net10.0 || net10=FAILED
  printf '\nPackage test results (ReliableKafka %s from %s):\n' "${PACKED_VERSION}" "${PACKAGES_DIR}"
  printf '  net8.0  (Microsoft.Extensions.Hosting 8.0.1, Microsoft.Extensions.Options 8.0.2): %s\n' "${net8}"
  printf '  net10.0 (Microsoft.Extensions.Hosting 10.0.14, Confluent.SchemaRegistry.Serdes.Json 2.16.0): %s\n' "${net10}"
  [[ "${net8}" == passed && "${net10}" == passed ]]
}

main() {
  local command="${1:-build}"
  shift || true
  require_dotnet
  case "${command}" in
    build) build ;;
    test) provision_postgresql; provision_chromium; build; run_tests ;;
    faults) build; run_faults ;;
    pack) pack ;;
    package-test) package_test ;;
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
    *) die "unknown command '${command}'. Commands: build, test, faults, pack, package-test, demo, bench, postgres." ;;
  esac
}

main "$@"
