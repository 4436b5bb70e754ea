#!/usr/bin/env bash
# Import and refresh the pinned Linux KVM UAPI header sets (headers/sets.json) from Debian's packages.
#
#   headers/fetch.sh [--accept] [--from DIR] [SET|all [ARCH...]]
#
# The pinned sets are committed under headers/sets/<SET>/<ARCH>/include: exactly the files clang opens
# to parse linux/kvm.h for that target, each listed in sets.json with its sha256. Nothing in the build,
# the tests or the generator downloads anything. This script is how a set is imported or refreshed:
# it downloads the set's package(s), lays the headers out beside the pinned tree (headers/incoming/,
# not committed), and reports what differs from the pin: the files, and the API difference as
# `kvm-bindgen diff`. A registry serving another package version is a report, never a failure.
# Only --accept replaces the pinned tree and its sha256s. See headers/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MANIFEST=${KVM_HEADERS_MANIFEST:-$HERE/sets.json}
SETS_DIR=${KVM_HEADERS_SETS_DIR:-$HERE/sets}
INCOMING_DIR=${KVM_HEADERS_INCOMING_DIR:-$HERE/incoming}
PYTHON=${PYTHON:-python3}
DEFAULT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

usage() {
    cat <<USAGE
usage: $(basename "$0") [--accept] [--from DIR] [SET|all [ARCH...]]

Downloads the Debian package(s) carrying SET's KVM headers (default: the manifest's
default set; 'all' for every set) for each ARCH (default: every arch of the set), lays
them out under headers/incoming/SET/ARCH/include, finds the files clang opens for
linux/kvm.h (kvm-bindgen header-files) and reports how they differ from the pinned tree
headers/sets/SET/ARCH/include: files added, removed or changed, and the KVM API
difference (kvm-bindgen diff). Exits 0 whether or not they differ.

  --accept     replace the pinned tree with the downloaded files and record their
               sha256s in sets.json (review the report first; commit the result together
               with the regenerated bindings)
  --from DIR   take the .deb files from DIR instead of the Debian archive (no network)
  -h, --help   this text

Environment:
  KVM_BINDGEN          the kvm-bindgen binary (default: built with swift build)
  KVM_HEADERS_MIRROR   Debian archive URI instead of the one in /etc/apt/sources.list{,.d}
  KVM_HEADERS_KEYRING  keyring for that archive
  KVM_HEADERS_SETS_DIR, KVM_HEADERS_INCOMING_DIR, KVM_HEADERS_MANIFEST  other locations (tests)
USAGE
}

die() { echo "fetch.sh: error: $*" >&2; exit 1; }
log() { echo "fetch.sh: $*"; }

command -v "$PYTHON" >/dev/null || die "python3 is required (to read sets.json)"
for tool in dpkg-deb sha256sum; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ -f $MANIFEST ]] || die "manifest not found: $MANIFEST"

ACCEPT=0
FROM=""
POS=()
while (($#)); do
    case $1 in
        --accept) ACCEPT=1 ;;
        --from) shift; FROM=${1:-}; [[ -d $FROM ]] || die "--from needs a directory of .deb files" ;;
        -h | --help) usage; exit 0 ;;
        --) shift; POS+=("$@"); break ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) POS+=("$1") ;;
    esac
    shift
done
[[ -n $FROM ]] || command -v apt-get >/dev/null || die "apt-get is required (or --from DIR)"

py() { "$PYTHON" - "$MANIFEST" "$@"; }

manifest_sets() {
    py <<'PY'
import json, sys
print(" ".join(json.load(open(sys.argv[1]))["sets"]))
PY
}

manifest_default() {
    py <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
d = m["default"]
flagged = [k for k, v in m["sets"].items() if v.get("default")]
if d not in m["sets"] or flagged != [d]:
    sys.exit(f"sets.json: top-level default {d!r} does not match the set(s) marked default: {flagged}")
print(d)
PY
}

# SET|suite, then per arch: ARCH|arch|available|pkg,pkg|target|deb_include|deb_asm|sha256|reason
manifest_query() {
    py "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
name = sys.argv[2]
if name not in m["sets"]:
    sys.exit(f"unknown set {name!r}; sets.json has: {', '.join(m['sets'])}")
s = m["sets"][name]
f = lambda v: (str(v) if v not in (None, "") else "-")
print("SET|" + s["suite"])
for arch, a in s["arches"].items():
    print("|".join(["ARCH", arch, "1" if a.get("available", True) else "0",
                    ",".join(a.get("packages", [])) or "-", f(a.get("target")), f(a.get("deb_include")),
                    f(a.get("deb_asm")), f(a.get("sha256")), f(a.get("reason")).replace("|", "/")]))
PY
}

# The pinned files of SET/ARCH as sha256sum lines.
manifest_files() {
    py "$1" "$2" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["sets"][sys.argv[2]]["arches"][sys.argv[3]]
for path, sha in sorted(a.get("files", {}).items(), key=lambda kv: kv[0].encode()):
    print(f"{sha}  {path}")
PY
}

# manifest_accept SET ARCH IMPORTED_FROM LISTING  (LISTING: kvm-bindgen header-files output)
manifest_accept() {
    py "$@" <<'PY'
import json, os, sys
path, s, arch, imported, listing = sys.argv[1:6]
m = json.load(open(path))
a = m["sets"][s]["arches"][arch]
files, total = {}, ""
for line in open(listing):
    line = line.rstrip("\n")
    if line.startswith("total "):
        total = line.split()[1]
    elif line:
        sha, name = line.split("  ", 1)
        files[name] = sha
a["imported_from"] = imported
a["sha256"] = total
a["files"] = files
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    json.dump(m, fh, indent=2)
    fh.write("\n")
os.replace(tmp, path)
PY
}

# Prints "URI KEYRING" for the Debian archive configured on this host
# (the non -security entry of a Debian suite), KEYRING possibly "-".
detect_mirror() {
    "$PYTHON" - "${KVM_HEADERS_MIRROR:-}" "${KVM_HEADERS_KEYRING:-}" "$DEFAULT_KEYRING" <<'PY'
import glob, os, re, sys
override, keyring, default_keyring = sys.argv[1:4]

def keyring_or_default(k):
    if keyring:
        return keyring
    if k and "\n" not in k and os.path.isfile(k):
        return k
    return default_keyring if os.path.isfile(default_keyring) else "-"

if override:
    print(override.rstrip("/"), keyring_or_default(""))
    sys.exit(0)

debian = {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
          "stable", "testing", "unstable", "oldstable", "oldoldstable", "experimental"}
try:
    osr = dict(l.strip().split("=", 1) for l in open("/etc/os-release") if "=" in l)
    if osr.get("ID", "").strip('"') == "debian" and osr.get("VERSION_CODENAME"):
        debian.add(osr["VERSION_CODENAME"].strip('"'))
except OSError:
    pass

def usable(types, suites, comps, enabled=True):
    if not enabled or "deb" not in types or not suites:
        return False
    if any(s.endswith("-security") or "/" in s for s in suites):
        return False
    if not any(s.split("-")[0] in debian for s in suites):
        return False
    return "main" in comps

found = []
# deb822 *.sources
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    text = open(path).read()
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += "\n" + line.strip()
                continue
            key, _, val = line.partition(":")
            key = key.strip().lower()
            fields[key] = val.strip()
        uris = fields.get("uris", "").split()
        enabled = fields.get("enabled", "yes").lower() not in ("no", "false", "0")
        if uris and usable(fields.get("types", "").split(), fields.get("suites", "").split(),
                           fields.get("components", "").split(), enabled):
            found.append((uris[0], fields.get("signed-by", "")))
# one-line *.list
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    if not os.path.isfile(path):
        continue
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        opts = {}
        m = re.match(r"^(\S+)\s+\[([^\]]*)\]\s+(.*)$", line)
        if m:
            typ, optstr, rest = m.groups()
            for o in optstr.split():
                k, _, v = o.partition("=")
                opts[k] = v
        else:
            typ, _, rest = line.partition(" ")
        parts = rest.split()
        if len(parts) < 3:
            continue
        uri, suite, comps = parts[0], parts[1], parts[2:]
        if usable([typ], [suite], comps):
            found.append((uri, opts.get("signed-by", "")))
if not found:
    sys.exit("no Debian archive entry (deb, non -security, component main) found in "
             "/etc/apt/sources.list or /etc/apt/sources.list.d/; set KVM_HEADERS_MIRROR")
uri, signed_by = found[0]
print(uri.rstrip("/"), keyring_or_default(signed_by))
PY
}

BINDGEN=${KVM_BINDGEN:-}
bindgen() {
    if [[ -z $BINDGEN ]]; then
        log "building kvm-bindgen (swift build --product kvm-bindgen)"
        (cd "$ROOT" && swift build --product kvm-bindgen >&2) || die "could not build kvm-bindgen"
        BINDGEN="$(cd "$ROOT" && swift build --show-bin-path)/kvm-bindgen"
    fi
    "$BINDGEN" "$@"
}

TMP=""
cleanup() { [[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
MIRROR=""
KEYRING=""

# download_debs SUITE DEST PKG...: the packages' .debs into DEST, from --from DIR or the archive.
download_debs() {
    local suite=$1 dest=$2
    shift 2
    local p debs
    if [[ -n $FROM ]]; then
        for p in "$@"; do
            debs=("$FROM/${p}_"*.deb)
            [[ -f ${debs[0]} ]] || die "--from $FROM has no ${p}_*.deb"
            cp "${debs[0]}" "$dest/"
        done
        return
    fi
    if [[ -z $MIRROR ]]; then
        read -r MIRROR KEYRING < <(detect_mirror) || die "could not determine the Debian mirror"
        [[ -n $MIRROR ]] || die "could not determine the Debian mirror"
    fi
    local apt=$TMP/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    : >"$apt/status"
    local signed=""
    [[ $KEYRING != - ]] && signed=" [signed-by=$KEYRING]"
    echo "deb$signed $MIRROR $suite main" >"$apt/sources.list"
    chmod -R 755 "$TMP"
    if [[ $(id -u) == 0 ]] && id _apt >/dev/null 2>&1; then chown -R _apt:root "$apt/lists" "$apt/cache" "$dest"; fi
    local apt_opts=(
        -q -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=$apt/status"
        -o "Dir::State::extended_states=$apt/extended_states" -o "Dir::Cache=$apt/cache"
        # x86_64 headers of the older suites are in an amd64 package; every other package is arch all.
        -o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Acquire::Languages=none
    )
    log "$suite: apt-get update"
    apt-get "${apt_opts[@]}" update >"$TMP/update.log" 2>&1 || { cat "$TMP/update.log" >&2; die "apt-get update failed for suite '$suite'"; }
    log "$suite: downloading $*"
    (cd "$dest" && apt-get "${apt_opts[@]}" download "$@") >"$TMP/download.log" 2>&1 \
        || { cat "$TMP/download.log" >&2; die "apt-get download failed for: $*"; }
}

# import_set SET [ARCH...]
import_set() {
    local set=$1
    shift
    local q suite
    q=$(manifest_query "$set") || die "cannot read set '$set' from $MANIFEST"
    suite=$(sed -n 's/^SET|//p' <<<"$q")
    declare -A AVAIL PKGS TARGET INC ASM SHA REASON
    local known=() tag arch avail pkgs target inc asm sha reason
    while IFS='|' read -r tag arch avail pkgs target inc asm sha reason; do
        [[ $tag == ARCH ]] || continue
        known+=("$arch")
        AVAIL[$arch]=$avail PKGS[$arch]=$pkgs TARGET[$arch]=$target INC[$arch]=$inc ASM[$arch]=$asm
        SHA[$arch]=$sha REASON[$arch]=$reason
    done <<<"$q"
    local arches=("$@") a todo=() want=() p ps
    ((${#arches[@]})) || arches=("${known[@]}")
    for a in "${arches[@]}"; do
        [[ -n ${AVAIL[$a]:-} ]] || die "set '$set' has no arch '$a' (known: ${known[*]})"
        if [[ ${AVAIL[$a]} == 0 ]]; then log "$set/$a: not available, skipped (${REASON[$a]})"; continue; fi
        todo+=("$a")
        IFS=, read -r -a ps <<<"${PKGS[$a]}"
        for p in "${ps[@]}"; do [[ " ${want[*]-} " == *" $p "* ]] || want+=("$p"); done
    done
    ((${#todo[@]})) || return 0

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvm-headers.XXXXXX")
    mkdir -p "$TMP/debs"
    download_debs "$suite" "$TMP/debs" "${want[@]}"

    local root incoming version deb debs pinned listing
    for a in "${todo[@]}"; do
        root=$TMP/x/$a
        mkdir -p "$root"
        version=""
        IFS=, read -r -a ps <<<"${PKGS[$a]}"
        for p in "${ps[@]}"; do
            debs=("$TMP/debs/${p}_"*.deb)
            deb=${debs[0]}
            [[ -f $deb ]] || die "$set/$a: $p was not downloaded"
            dpkg-deb -x "$deb" "$root"
            version+="${version:+, }$p $(dpkg-deb -f "$deb" Version)"
        done
        incoming=$INCOMING_DIR/$set/$a
        rm -rf "$incoming"
        mkdir -p "$incoming/include"
        [[ -d $root/${INC[$a]}/linux && -d $root/${ASM[$a]} ]] || die "$set/$a: $version lacks ${INC[$a]}/linux or ${ASM[$a]}"
        # -L: the arch-all packages use symlinks into /usr/lib/linux/uapi.
        cp -RL "$root/${INC[$a]}/linux" "$incoming/include/linux"
        [[ -d $root/${INC[$a]}/asm-generic ]] && cp -RL "$root/${INC[$a]}/asm-generic" "$incoming/include/asm-generic"
        cp -RL "$root/${ASM[$a]}" "$incoming/include/asm"
        echo "$version" >"$incoming/PACKAGES"
        if [[ ! -f $incoming/include/linux/kvm.h || ! -f $incoming/include/asm/kvm.h ]]; then
            log "$set/$a: $version has no linux/kvm.h or asm/kvm.h; mark it \"available\": false in sets.json"
            continue
        fi
        listing=$incoming/header-files.txt
        bindgen header-files --include "$incoming/include" --arch "$a" >"$listing" \
            || die "$set/$a: kvm-bindgen cannot parse linux/kvm.h of $version (see above)"
        report "$set" "$a" "$version" "$incoming" "$listing"
    done
    rm -rf "$TMP"
    TMP=""
}

# report SET ARCH VERSION INCOMING LISTING: what differs from the pin; with --accept, replace the pin.
report() {
    local set=$1 a=$2 version=$3 incoming=$4 listing=$5
    local pinned=$SETS_DIR/$set/$a/include total
    total=$(sed -n 's/^total //p' "$listing")
    local count
    count=$(grep -vc '^total ' "$listing")
    if [[ $total == "${SHA[$a]}" ]] && diff -q <(manifest_files "$set" "$a") <(grep -v '^total ' "$listing") >/dev/null; then
        log "$set/$a: $version: the $count files clang opens for linux/kvm.h are identical to the pinned set" \
            "(sha256 ${total:0:12}…): nothing changes"
        return
    fi
    log "$set/$a: $version DIFFERS from the pinned set (sha256 ${SHA[$a]:0:12}… → ${total:0:12}…):"
    "$PYTHON" - <(manifest_files "$set" "$a") <(grep -v '^total ' "$listing") <<'PY'
import sys
def read(p):
    return {l.rstrip("\n").split("  ", 1)[1]: l.split("  ", 1)[0] for l in open(p) if l.strip()}
old, new = read(sys.argv[1]), read(sys.argv[2])
for name in sorted(set(old) | set(new)):
    if name not in new: print(f"  removed  {name}")
    elif name not in old: print(f"  added    {name}")
    elif old[name] != new[name]: print(f"  changed  {name}")
PY
    if [[ -f $pinned/linux/kvm.h ]]; then
        log "$set/$a: the KVM API difference (kvm-bindgen diff pinned → downloaded):"
        bindgen diff "$pinned" "$incoming/include" --arch "$a" || log "$set/$a: kvm-bindgen diff failed"
    fi
    if ((ACCEPT)); then
        rm -rf "$pinned"
        mkdir -p "$pinned"
        local sha name
        while read -r sha name; do
            [[ $sha == total ]] && continue
            mkdir -p "$pinned/$(dirname "$name")"
            cp "$incoming/include/$name" "$pinned/$name"
        done <"$listing"
        manifest_accept "$set" "$a" "$version" "$listing"
        log "$set/$a: accepted: $pinned now holds the $count files of $version; sets.json updated."
        log "$set/$a: regenerate what uses the set (kvm-bindgen generate --set $set --arch $a where it is committed) and commit."
    else
        log "$set/$a: the pinned tree is untouched; review headers/incoming/$set/$a, then accept with:"
        log "    headers/fetch.sh --accept $set $a"
    fi
}

SET=${POS[0]:-}
ARCHES=("${POS[@]:1}")
[[ -n $SET ]] || SET=$(manifest_default) || die "bad default in $MANIFEST"
if [[ $SET == all ]]; then read -r -a SETS <<<"$(manifest_sets)"; else SETS=("$SET"); fi
for s in "${SETS[@]}"; do import_set "$s" "${ARCHES[@]}"; done
