#!/usr/bin/env bash
# Rewrites the public API baseline's Unshipped files (PublicAPI.Unshipped.txt) of the published libraries from
# what the compiler sees. Run it after a change to the public API, then review `git diff -- '*PublicAPI*'`.
#
#   eng/update-public-api.sh                     every project under src/
#   eng/update-public-api.sh src/ReliableKafka   only these projects (folders or .csproj files)
#
# How: every Unshipped file is reset to `#nullable enable`, the projects are rebuilt with warnings not treated as
# errors, and each RS0016 ("not part of the declared public API") diagnostic, which carries the exact line the
# analyzer expects, goes into the Unshipped file of its project, sorted and without duplicates. An RS0017 for a
# line of a Shipped file (a released API that is gone) becomes a `*REMOVED*` line and is printed: it is a breaking
# change. When a project's surface differs per target framework, its files move to PublicAPI/<TargetFramework>/
# (and back to one pair when they agree again). Finally the projects are built as usual (warnings as errors) to
# prove that the baseline is complete.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
cd "${ROOT}"

die() { printf 'update-public-api.sh: %s\n' "$*" >&2; exit 1; }

projects=()
if (($# == 0)); then
  for project in src/*/*.csproj; do projects+=("${project}"); done
else
  for arg in "$@"; do
    if [[ -d "${arg}" ]]; then
      project="$(find "${arg}" -maxdepth 1 -name '*.csproj' | head -n 1)"
      [[ -n "${project}" ]] || die "no .csproj in ${arg}."
      projects+=("${project}")
    elif [[ -f "${arg}" && "${arg}" == *.csproj ]]; then
      projects+=("${arg}")
    else
      die "not a project folder or .csproj: ${arg}"
    fi
  done
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# 1. Reset every Unshipped file (root or per target framework) so that every unreleased public symbol is reported.
for project in "${projects[@]}"; do
  dir="$(dirname "${project}")"
  while IFS= read -r -d '' file; do
    printf '#nullable enable\n' >"${file}"
  done < <(find "${dir}" -maxdepth 3 -name PublicAPI.Unshipped.txt -not -path '*/bin/*' -not -path '*/obj/*' -print0)
  [[ -f "${dir}/PublicAPI.Shipped.txt" || -d "${dir}/PublicAPI" ]] || die "${dir} has no PublicAPI.Shipped.txt."
done

# 2. Rebuild them, in one build (a solution filter) so that each compiles once, with the diagnostics as warnings,
#    logged one per line. The build's exit status is not the verdict here: step 4 is.
python3 - "${ROOT}/ReliableKafka.sln" "${projects[@]}" >"${work}/public-api.slnf" <<'PYTHON'
import json, os, sys
sln = sys.argv[1]
root = os.path.dirname(sln)
print(json.dumps({"solution": {"path": sln, "projects": [os.path.relpath(os.path.abspath(p), root).replace("/", "\\") for p in sys.argv[2:]]}}))
PYTHON
printf 'Rebuilding %d project(s) to collect their public API...\n' "${#projects[@]}"
dotnet build "${work}/public-api.slnf" -c Release --nologo --no-incremental -tl:off -v quiet \
  -p:TreatWarningsAsErrors=false "-flp:Verbosity=minimal;WarningsOnly;LogFile=${work}/build.log" >"${work}/console.log" 2>&1 || true
if grep -q ': error ' "${work}/console.log"; then
  grep ': error ' "${work}/console.log" | sort -u >&2
  die "the build failed (see the errors above)."
fi

# The target frameworks of each project, as MSBuild evaluates them.
frameworks=()
for project in "${projects[@]}"; do
  tfms="$(dotnet msbuild "${project}" -getProperty:TargetFrameworks -p:Configuration=Release)"
  [[ -n "${tfms}" ]] || tfms="$(dotnet msbuild "${project}" -getProperty:TargetFramework -p:Configuration=Release)"
  frameworks+=("${tfms}")
done

# 3. Write the files.
python3 - "${work}/build.log" "${#projects[@]}" "${projects[@]}" "${frameworks[@]}" <<'PYTHON'
import os, re, shutil, sys
from collections import defaultdict

log, count = sys.argv[1], int(sys.argv[2])
projects = [os.path.abspath(p) for p in sys.argv[3:3 + count]]
frameworks = {p: [t for t in f.split(";") if t] for p, f in zip(projects, sys.argv[3 + count:])}
line_re = re.compile(
    r": warning (?P<id>RS0016|RS0017): Symbol '(?P<api>.*)' is (?:not part of the declared public API|part of the declared API).*"
    r"\[(?P<proj>[^\[\]]+?\.csproj)(?:::TargetFramework=(?P<tfm>[^\[\]]+))?\]\s*$")
added = defaultdict(lambda: defaultdict(set))    # project -> tfm -> api lines
removed = defaultdict(lambda: defaultdict(set))  # project -> tfm -> api lines of Shipped files that are gone
with open(log, encoding="utf-8") as f:
    for line in f:
        m = line_re.search(line.rstrip("\n"))
        if not m:
            continue
        proj, tfm = os.path.abspath(m["proj"]), m["tfm"] or ""
        (added if m["id"] == "RS0016" else removed)[proj][tfm].add(m["api"])

def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("#nullable enable\n")
        for line in sorted(lines):
            f.write(line + "\n")

for project in projects:
    directory, name = os.path.dirname(project), os.path.basename(os.path.dirname(project))
    tfms = frameworks[project] or [""]
    per_tfm = {t: added[project][t] | {"*REMOVED*" + r for r in removed[project][t]} for t in tfms}
    if not any(per_tfm.values()) and not added[project]:
        print(f"warning: no public API was reported for {name}; is it built with the analyzer?", file=sys.stderr)
    folder = os.path.join(directory, "PublicAPI")
    same = len({frozenset(v) for v in per_tfm.values()}) <= 1
    if same:
        if os.path.isdir(folder):  # back to one pair: keep the Shipped file they share
            shipped = {open(os.path.join(folder, t, "PublicAPI.Shipped.txt"), encoding="utf-8").read()
                       for t in tfms if os.path.exists(os.path.join(folder, t, "PublicAPI.Shipped.txt"))}
            if len(shipped) > 1:
                sys.exit(f"{name}: the public API is the same on every framework now, but the Shipped files in "
                         f"PublicAPI/ differ; merge them into {name}/PublicAPI.Shipped.txt by hand.")
            with open(os.path.join(directory, "PublicAPI.Shipped.txt"), "w", encoding="utf-8", newline="\n") as f:
                f.write(shipped.pop() if shipped else "#nullable enable\n")
            shutil.rmtree(folder)
            print(f"{name}: the public API is the same on every framework again; one pair of files.")
        write(os.path.join(directory, "PublicAPI.Unshipped.txt"), per_tfm[tfms[0]])
        print(f"{name}: {len(per_tfm[tfms[0]])} unshipped line(s).")
    else:
        root_shipped = os.path.join(directory, "PublicAPI.Shipped.txt")
        for t in tfms:
            shipped = os.path.join(folder, t, "PublicAPI.Shipped.txt")
            if not os.path.exists(shipped):
                os.makedirs(os.path.dirname(shipped), exist_ok=True)
                if os.path.exists(root_shipped):
                    shutil.copyfile(root_shipped, shipped)
                else:
                    open(shipped, "w").write("#nullable enable\n")
            write(os.path.join(folder, t, "PublicAPI.Unshipped.txt"), per_tfm[t])
            print(f"{name} ({t}): {len(per_tfm[t])} unshipped line(s).")
        for f in ("PublicAPI.Shipped.txt", "PublicAPI.Unshipped.txt"):
            if os.path.exists(os.path.join(directory, f)):
                os.remove(os.path.join(directory, f))
    for t, lines in removed[project].items():
        for line in sorted(lines):
            print(f"BREAKING: {name} ({t or 'all'}): released API removed: {line}", file=sys.stderr)
PYTHON

# 4. Prove it: the normal build (warnings as errors) must now pass.
for project in "${projects[@]}"; do
  dotnet build "${project}" -c Release --nologo -v quiet -tl:off >"${work}/verify.log" 2>&1 || {
    grep -E ': (error|warning) ' "${work}/verify.log" | sort -u >&2 || cat "${work}/verify.log" >&2
    die "${project} does not build with the updated files (see above)."
  }
done
printf 'Public API files are up to date; review them with: git diff -- %s\n' "'*PublicAPI*'"
