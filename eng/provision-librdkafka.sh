#!/usr/bin/env bash
# Makes sure the native librdkafka that Confluent.Kafka needs can be restored.
#
# Confluent.Kafka depends on the NuGet package librdkafka.redist (the native library). Where that package
# restores from the configured feeds (any ordinary machine with nuget.org), this script does nothing else.
# Where it does not (a NuGet mirror without it), the script builds librdkafka from source and packs a local
# stand-in package into artifacts/librdkafka-feed/, which Directory.Build.props then adds as a restore source:
#
#   1. installs the Debian packages the native build needs, when they are missing (as root; otherwise it
#      names them and stops);
#   2. builds librdkafka with Confluent's own Node.js client, @confluentinc/kafka-javascript, whose npm
#      package bundles the librdkafka source of the same release and compiles it on install;
#   3. packs librdkafka.redist (id and version of the real package, linux-x64 only) holding just
#      runtimes/linux-x64/native/librdkafka.so and a marker file.
#
# Idempotent and cached: once the real package is known to restore, or once the stand-in exists, a run
# takes well under a second. `./build.sh clean-native` forgets both.
set -euo pipefail

readonly LIBRDKAFKA_VERSION="2.15.1"
# The npm release of Confluent's Node.js client that bundles librdkafka ${LIBRDKAFKA_VERSION}.
readonly CKJS_VERSION="1.10.1"
# librdkafka's version as its header encodes it (0xMMmmrrxx), checked after the build.
readonly LIBRDKAFKA_HEX_VERSION="0x020f01ff"
readonly DEBIAN_PACKAGES=(g++ make python3 pkg-config zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev)
readonly MARKER_FILE="reliablekafka-standin.txt"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly NATIVE_DIR="${ROOT}/artifacts/native"
readonly FEED_DIR="${ROOT}/artifacts/librdkafka-feed"
readonly NUPKG="${FEED_DIR}/librdkafka.redist.${LIBRDKAFKA_VERSION}.nupkg"
readonly REAL_OK_MARKER="${NATIVE_DIR}/real-package-restores"
readonly GLOBAL_PACKAGES="${NUGET_PACKAGES:-${HOME}/.nuget/packages}"
readonly CACHED_PACKAGE="${GLOBAL_PACKAGES}/librdkafka.redist/${LIBRDKAFKA_VERSION}"

say() { printf '[librdkafka] %s\n' "$*"; }
fail() {
  printf '[librdkafka] ERROR: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '[librdkafka]   %s\n' "$line" >&2; done
  exit 1
}

nupkg_is_valid() {
  # Zip entry names are stored uncompressed, so grep finds the native file's entry without unzip.
  [[ -s "$1" ]] && grep -qa "runtimes/linux-x64/native/librdkafka.so" "$1"
}

cached_package_is_standin() { [[ -f "${CACHED_PACKAGE}/${MARKER_FILE}" ]]; }
cached_package_is_real() { [[ -d "${CACHED_PACKAGE}" ]] && ! cached_package_is_standin && [[ -f "${CACHED_PACKAGE}/librdkafka.redist.nuspec" ]]; }

# Restores librdkafka.redist alone with the repository's NuGet configuration (nuget.config plus the user's
# own configuration, exactly as the real build sees them), into a throw-away packages folder when the
# global one holds a stand-in (so the cache cannot answer for the feeds).
probe_feeds() {
  local probe_dir="${NATIVE_DIR}/probe"
  rm -rf "${probe_dir}"
  mkdir -p "${probe_dir}"
  # Stop MSBuild from importing the repository's Directory.*.props into the probe project.
  printf '<Project />\n' >"${probe_dir}/Directory.Build.props"
  printf '<Project />\n' >"${probe_dir}/Directory.Build.targets"
  printf '<Project />\n' >"${probe_dir}/Directory.Packages.props"
  cat >"${probe_dir}/probe.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <NuGetAudit>false</NuGetAudit>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="librdkafka.redist" Version="[${LIBRDKAFKA_VERSION}]" />
  </ItemGroup>
</Project>
EOF
  local args=(restore "${probe_dir}/probe.csproj" --nologo -v q)
  if cached_package_is_standin; then
    args+=(--packages "${probe_dir}/packages")
  fi
  if dotnet "${args[@]}" >"${probe_dir}/restore.log" 2>&1; then
    rm -rf "${probe_dir}"
    return 0
  fi
  local reason
  reason="$(grep -o 'error NU[0-9]*:[^[]*' "${probe_dir}/restore.log" | head -n 1 || true)"
  say "librdkafka.redist ${LIBRDKAFKA_VERSION} does not restore from the configured feeds${reason:+ (${reason% })}."
  rm -rf "${probe_dir}"
  return 1
}

ensure_debian_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    fail "librdkafka.redist ${LIBRDKAFKA_VERSION} is not on your NuGet feeds and this is not a Debian-based machine." \
      "Either add a feed that has librdkafka.redist ${LIBRDKAFKA_VERSION} (nuget.org has it), or install the" \
      "equivalents of: ${DEBIAN_PACKAGES[*]} nodejs npm, and run this script again."
  fi
  local missing=()
  local pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("${pkg}")
    fi
  done
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
  fi
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ "$(id -u)" != "0" ]]; then
    fail "Building librdkafka needs Debian packages that are not installed: ${missing[*]}" \
      "Install them (sudo apt-get install -y ${missing[*]}) and run ./build.sh again."
  fi
  say "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >"${NATIVE_DIR}/apt.log" 2>&1; then
    apt-get update >>"${NATIVE_DIR}/apt.log" 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >>"${NATIVE_DIR}/apt.log" 2>&1 ||
      fail "apt-get could not install: ${missing[*]}" "See ${NATIVE_DIR}/apt.log."
  fi
}

build_librdkafka() {
  local build_dir="${NATIVE_DIR}/build"
  local so="${build_dir}/node_modules/@confluentinc/kafka-javascript/build/deps/librdkafka.so.1"
  local header="${build_dir}/node_modules/@confluentinc/kafka-javascript/deps/librdkafka/src/rdkafka.h"
  if [[ ! -s "${so}" ]]; then
    rm -rf "${build_dir}"
    mkdir -p "${build_dir}"
    printf '{ "name": "librdkafka-build", "version": "1.0.0", "private": true }\n' >"${build_dir}/package.json"
    say "Building librdkafka ${LIBRDKAFKA_VERSION} from source via @confluentinc/kafka-javascript@${CKJS_VERSION} (takes 2-3 minutes)..."
    # CKJS_LINKING=dynamic links the Debian system libraries instead of downloading their sources.
    # nodedir points node-gyp at the local Node.js headers instead of downloading them.
    local nodedir_env=()
    if [[ -f /usr/include/node/node.h ]]; then nodedir_env=(npm_config_nodedir=/usr); fi
    if ! (cd "${build_dir}" && env CKJS_LINKING=dynamic "${nodedir_env[@]}" \
      npm install --no-save --no-audit --no-fund --loglevel=error "@confluentinc/kafka-javascript@${CKJS_VERSION}" \
      >"${NATIVE_DIR}/npm-build.log" 2>&1); then
      tail -n 20 "${NATIVE_DIR}/npm-build.log" >&2 || true
      fail "Building librdkafka failed; the full log is ${NATIVE_DIR}/npm-build.log." \
        "Check that the npm registry is reachable and that these Debian packages are installed: ${DEBIAN_PACKAGES[*]}."
    fi
    [[ -s "${so}" ]] || fail "The build finished but ${so} is missing; see ${NATIVE_DIR}/npm-build.log."
  fi
  grep -q "#define RD_KAFKA_VERSION *${LIBRDKAFKA_HEX_VERSION}" "${header}" ||
    fail "The librdkafka that @confluentinc/kafka-javascript@${CKJS_VERSION} built is not ${LIBRDKAFKA_VERSION} (${header})."
  BUILT_SO="${so}"
}

# Packs $1 (a librdkafka.so) into the stand-in nupkg of the local feed.
pack_standin() {
  local so="$1"
  local staging="${NATIVE_DIR}/staging"
  rm -rf "${staging}"
  mkdir -p "${staging}/runtimes/linux-x64/native" "${FEED_DIR}"
  cp "${so}" "${staging}/runtimes/linux-x64/native/librdkafka.so"
  sed "s/@VERSION@/${LIBRDKAFKA_VERSION}/g" "${ROOT}/eng/librdkafka-standin/librdkafka.redist.nuspec" \
    >"${staging}/librdkafka.redist.nuspec"
  printf 'Local stand-in for librdkafka.redist %s, built by eng/provision-librdkafka.sh.\n' "${LIBRDKAFKA_VERSION}" \
    >"${staging}/${MARKER_FILE}"
  dotnet msbuild "${ROOT}/eng/librdkafka-standin/pack.proj" -nologo -v:q -t:Pack \
    -p:StagingDir="${staging}" -p:OutputFile="${NUPKG}.tmp" >"${NATIVE_DIR}/pack.log" 2>&1 ||
    fail "Packing the stand-in failed; see ${NATIVE_DIR}/pack.log."
  mv -f "${NUPKG}.tmp" "${NUPKG}"
  rm -rf "${staging}"
  nupkg_is_valid "${NUPKG}" || fail "The packed stand-in ${NUPKG} is not valid."
}

main() {
  mkdir -p "${NATIVE_DIR}"
  exec 9>"${NATIVE_DIR}/.lock"
  flock 9

  if nupkg_is_valid "${NUPKG}"; then
    # A stand-in restored earlier but broken (no native file) would be used forever: NuGet never re-extracts.
    if cached_package_is_standin && [[ ! -s "${CACHED_PACKAGE}/runtimes/linux-x64/native/librdkafka.so" ]]; then
      say "Removing a broken cached stand-in at ${CACHED_PACKAGE}."
      rm -rf "${CACHED_PACKAGE}"
    fi
    say "Using the local stand-in ${NUPKG#"${ROOT}/"}."
    return 0
  fi
  if [[ -f "${REAL_OK_MARKER}" ]] || cached_package_is_real; then
    say "librdkafka.redist ${LIBRDKAFKA_VERSION} restores from your NuGet feeds; no stand-in needed."
    return 0
  fi
  if probe_feeds; then
    touch "${REAL_OK_MARKER}"
    say "librdkafka.redist ${LIBRDKAFKA_VERSION} restores from your NuGet feeds; no stand-in needed."
    return 0
  fi

  if cached_package_is_standin && [[ -s "${CACHED_PACKAGE}/runtimes/linux-x64/native/librdkafka.so" ]]; then
    say "Reusing the stand-in's native library from the NuGet cache (${CACHED_PACKAGE})."
    pack_standin "${CACHED_PACKAGE}/runtimes/linux-x64/native/librdkafka.so"
  else
    if cached_package_is_standin; then
      say "Removing a broken cached stand-in at ${CACHED_PACKAGE}."
      rm -rf "${CACHED_PACKAGE}"
    fi
    ensure_debian_packages
    build_librdkafka
    pack_standin "${BUILT_SO}"
  fi
  say "Packed the stand-in ${NUPKG#"${ROOT}/"}; restore will take librdkafka.redist from there."
}

main "$@"
