#!/usr/bin/env python3
"""Checks the packages that `./build.sh pack` wrote (artifacts/packages by default) and prints their version.

For every library package (.nupkg): a symbols package (.snupkg) beside it with a PDB per target framework whose
SourceLink points at the canonical GitHub repository; its own README (docs/packages/<id>.md, byte for byte, not the
repository's README); the icon (eng/icon.png); tags; the repository URL and commit (HEAD when the tree is a git
checkout; a copy of the tree without .git has no commit and no SourceLink, which is then accepted) in the nuspec;
net8.0 and net10.0 assemblies and dependency groups; no exact version pins ([x.y.z]) in
any dependency group; Microsoft.Extensions 8.0.x for net8.0 and 10.0.x for net10.0. All packages share one version.

Usage: eng/check-packages.py [packages-folder]    exit 0 and the version on stdout when every check passed.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOSITORY_URL = "https://github.com/reliablekafka/ReliableKafka"
PACKAGES = ["ReliableKafka", "ReliableKafka.Sqlite", "ReliableKafka.PostgreSql", "ReliableKafka.Testing", "ReliableKafka.Dashboard"]
FRAMEWORKS = {"net8.0": "8.0.", "net10.0": "10.0."}  # target framework -> Microsoft.Extensions version prefix


HAS_GIT = os.path.exists(os.path.join(ROOT, ".git"))


def head_commit():
    if not HAS_GIT:
        return None
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def check(folder):
    problems, versions = [], {}
    commit = head_commit()
    files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    for package_id in PACKAGES:
        pattern = re.compile(re.escape(package_id) + r"\.(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.nupkg$")
        found = [(f, m.group(1)) for f in files if (m := pattern.match(f))]
        if len(found) != 1:
            problems.append(f"{package_id}: expected one .nupkg in {folder}, found {[f for f, _ in found]}")
            continue
        nupkg, version = found[0]
        versions[package_id] = version
        problems += [f"{package_id} {version}: {p}" for p in check_package(folder, nupkg, package_id, version, commit)]
    if len(set(versions.values())) > 1:
        problems.append(f"the packages have different versions: {versions}")
    return problems, next(iter(versions.values()), None)


def check_package(folder, nupkg, package_id, version, commit):
    problems = []
    with zipfile.ZipFile(os.path.join(folder, nupkg)) as z:
        names = set(z.namelist())
        nuspec_name = f"{package_id}.nuspec"
        if nuspec_name not in names:
            return [f"no {nuspec_name} in the package"]
        root = ET.fromstring(z.read(nuspec_name))
        ns = {"n": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"n": ""}
        meta = root.find("n:metadata", ns)

        def text(tag):
            element = meta.find(f"n:{tag}", ns)
            return element.text.strip() if element is not None and element.text else ""

        # README: the package's own.
        readme = text("readme")
        expected_readme = os.path.join(ROOT, "docs", "packages", f"{package_id}.md")
        if not readme:
            problems.append("the nuspec names no readme")
        elif readme not in names:
            problems.append(f"the readme {readme} is not in the package")
        elif not os.path.exists(expected_readme):
            problems.append(f"{os.path.relpath(expected_readme, ROOT)} does not exist")
        else:
            content = z.read(readme)
            if content != open(expected_readme, "rb").read():
                repo_readme = open(os.path.join(ROOT, "README.md"), "rb").read()
                what = "the repository's README.md" if content == repo_readme else "something else"
                problems.append(f"its README is {what}, not docs/packages/{package_id}.md")
            if re.search(rb"\]\((?!https?://|#)", content):
                problems.append("its README has a relative link (they break on nuget.org)")

        # Icon.
        icon = text("icon")
        if not icon or icon not in names:
            problems.append("no icon in the package")
        elif z.read(icon) != open(os.path.join(ROOT, "eng", "icon.png"), "rb").read():
            problems.append(f"{icon} is not eng/icon.png")

        # Metadata.
        if not text("tags"):
            problems.append("no tags")
        if text("projectUrl") != REPOSITORY_URL:
            problems.append(f"projectUrl is '{text('projectUrl')}', not {REPOSITORY_URL}")
        if text("license") != "Apache-2.0":
            problems.append(f"license is '{text('license')}'")
        repository = meta.find("n:repository", ns)
        if repository is None:
            problems.append("no <repository> in the nuspec")
        else:
            if repository.get("url") != REPOSITORY_URL:
                problems.append(f"repository url is '{repository.get('url')}', not {REPOSITORY_URL}")
            if not HAS_GIT:
                pass  # a copy without .git: the build knows no commit
            elif not re.fullmatch(r"[0-9a-f]{40}", repository.get("commit") or ""):
                problems.append(f"repository commit is '{repository.get('commit')}', not a commit id")
            elif commit and repository.get("commit") != commit:
                problems.append(f"repository commit {repository.get('commit')} is not HEAD ({commit}): a stale package?")

        # Assemblies and dependency groups.
        for tfm in FRAMEWORKS:
            for ext in (".dll", ".xml"):
                if f"lib/{tfm}/{package_id}{ext}" not in names:
                    problems.append(f"no lib/{tfm}/{package_id}{ext}")
        groups = {}
        dependencies = meta.find("n:dependencies", ns)
        for group in dependencies.findall("n:group", ns) if dependencies is not None else []:
            groups[group.get("targetFramework")] = [(d.get("id"), d.get("version") or "") for d in group.findall("n:dependency", ns)]
        for tfm, extensions in FRAMEWORKS.items():
            if tfm not in groups:
                problems.append(f"no {tfm} dependency group (groups: {sorted(groups)})")
                continue
            for dep_id, dep_version in groups[tfm]:
                if re.fullmatch(r"\[[^,\]]+\]", dep_version.strip()):
                    problems.append(f"{tfm}: {dep_id} is pinned exactly ({dep_version}); a library declares a minimum or a range")
                if dep_id.startswith("Microsoft.Extensions."):
                    minimum = dep_version.strip("[( ").split(",")[0]
                    if not minimum.startswith(extensions):
                        problems.append(f"{tfm}: {dep_id} {dep_version}, expected {extensions}x")
                if dep_id.startswith("ReliableKafka") and dep_version.strip("[( ").split(",")[0] != version:
                    problems.append(f"{tfm}: {dep_id} {dep_version}, expected {version}")

    # Symbols: a .snupkg beside it, with a PDB per framework whose SourceLink maps to GitHub.
    snupkg = os.path.join(folder, nupkg[:-len(".nupkg")] + ".snupkg")
    if not os.path.exists(snupkg):
        problems.append(f"no {os.path.basename(snupkg)} beside it")
    else:
        with zipfile.ZipFile(snupkg) as z:
            names = set(z.namelist())
            raw = ("https://raw.githubusercontent.com/reliablekafka/ReliableKafka/" + (commit or "")).encode()
            for tfm in FRAMEWORKS:
                pdb = f"lib/{tfm}/{package_id}.pdb"
                if pdb not in names:
                    problems.append(f"no {pdb} in the symbols package")
                elif HAS_GIT and raw not in z.read(pdb):
                    problems.append(f"{pdb} has no SourceLink to {raw.decode()}")
    return problems


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "artifacts", "packages")
    problems, version = check(folder)
    for problem in problems:
        print(f"check-packages: {problem}", file=sys.stderr)
    if problems:
        print(f"check-packages: {len(problems)} problem(s) in {folder}.", file=sys.stderr)
        return 1
    if not HAS_GIT:
        print("check-packages: no .git here, so the repository commit and SourceLink were not checked.", file=sys.stderr)
    print(f"check-packages: {len(PACKAGES)} packages {version} in {os.path.relpath(folder, ROOT)}: symbols, README, "
          "icon, repository and dependency ranges are as expected.", file=sys.stderr)
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
