#!/usr/bin/env bash
# Fetch the pinned Linux KVM UAPI header sets listed in headers/sets.json.
#
#   headers/fetch.sh [--update-manifest] [--force] [SET|all [ARCH...]]
#
# Lays out headers/sets/<SET>/<ARCH>/include/{linux,asm,asm-generic} plus
# headers/sets/<SET>/<ARCH>/VERSION, and checks each tree against the sha256
# recorded in sets.json. See headers/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST=${KVM_HEADERS_MANIFEST:-$HERE/sets.json}
SETS_DIR=${KVM_HEADERS_SETS_DIR:-$HERE/sets}
PYTHON=${PYTHON:-python3}
DEFAULT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

usage() {
    cat <<EOF
usage: $(basename "$0") [--update-manifest] [--force] [SET|all [ARCH...]]

Downloads the Debian package(s) carrying linux/kvm.h and asm/kvm.h for SET
(default: the manifest's default set) and each ARCH (default: every arch in the
manifest), and lays them out as
  headers/sets/SET/ARCH/include/{linux,asm,asm-generic}   (-nostdinc -isystem ...)
  headers/sets/SET/ARCH/VERSION                           (Debian package version)
SET may be 'all' for every set in the manifest.

  --update-manifest  record the fetched version, linux_version and sha256 in
                     sets.json instead of failing on a checksum mismatch
  --force            re-download even if the tree is present and matches
  -h, --help         this text

Environment:
  KVM_HEADERS_MIRROR   Debian archive URI to use instead of the one found in
                       /etc/apt/sources.list{,.d}
  KVM_HEADERS_KEYRING  keyring for that archive (default: the entry's
                       Signed-By, else $DEFAULT_KEYRING)
  KVM_HEADERS_SETS_DIR output root (default: headers/sets)
EOF
}

die() { echo "fetch.sh: error: $*" >&2; exit 1; }
log() { echo "fetch.sh: $*" >&2; }

command -v "$PYTHON" >/dev/null || die "python3 is required (to read sets.json)"
for tool in apt-get dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -f $MANIFEST ]] || die "manifest not found: $MANIFEST"

UPDATE=0
FORCE=0
POS=()
while (($#)); do
    case $1 in
        --update-manifest) UPDATE=1 ;;
        --force) FORCE=1 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; POS+=("$@"); break ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) POS+=("$1") ;;
    esac
    shift
done

# ---------------------------------------------------------------- JSON helpers
# All manifest access goes through python3 (always present on Debian 12; jq is
# not needed).
py() { "$PYTHON" - "$MANIFEST" "$@"; }

manifest_sets() {
    py <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join(m["sets"]))
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

# One line for the set, then one line per arch, '|'-separated; '-' for empty.
#   SET|suite
#   ARCH|arch|available|pkg,pkg|package_arch|target|deb_include|deb_asm|version|sha256|reason
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
    avail = a.get("available", True)
    print("|".join(["ARCH", arch, "1" if avail else "0",
                    ",".join(a.get("packages", [])) or "-", f(a.get("package_arch")),
                    f(a.get("target")), f(a.get("deb_include")), f(a.get("deb_asm")),
                    f(a.get("version")), f(a.get("sha256")),
                    f(a.get("reason")).replace("|", "/")]))
PY
}

# manifest_update SET ARCH version linux_version sha256
manifest_update() {
    py "$@" <<'PY'
import json, os, sys
path, s, arch, version, linux_version, sha = sys.argv[1:7]
m = json.load(open(path))
a = m["sets"][s]["arches"][arch]
a["version"] = version
a["linux_version"] = linux_version
a["sha256"] = sha
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

# ---------------------------------------------------------------- tree helpers
tree_sha() { (cd "$1" && sha256sum linux/kvm.h asm/kvm.h | sha256sum | cut -d' ' -f1); }

linux_version_of() {
    local h=$1/linux/version.h
    [[ -f $h ]] || { echo "-"; return; }
    local maj min sub code
    maj=$(sed -n 's/^#define LINUX_VERSION_MAJOR \([0-9]*\).*/\1/p' "$h")
    min=$(sed -n 's/^#define LINUX_VERSION_PATCHLEVEL \([0-9]*\).*/\1/p' "$h")
    sub=$(sed -n 's/^#define LINUX_VERSION_SUBLEVEL \([0-9]*\).*/\1/p' "$h")
    if [[ -z $maj || -z $min || -z $sub ]]; then
        # Older kernels only define LINUX_VERSION_CODE (sublevel clamped to 255).
        code=$(sed -n 's/^#define LINUX_VERSION_CODE \([0-9]*\).*/\1/p' "$h")
        [[ -n $code ]] || { echo "-"; return; }
        maj=$((code >> 16)) min=$(((code >> 8) & 255)) sub=$((code & 255))
    fi
    echo "$maj.$min.$sub"
}

TMP=""
cleanup() { [[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT

MIRROR=""
KEYRING=""

# fetch_set SET [ARCH...] -- returns non-zero if any arch failed verification
fetch_set() {
    local set=$1
    shift
    local q suite line
    q=$(manifest_query "$set") || die "cannot read set '$set' from $MANIFEST"
    suite=$(sed -n 's/^SET|//p' <<<"$q")

    declare -A AVAIL PKGS PARCH TARGET INC ASM VER SHA REASON
    local known=()
    while IFS='|' read -r tag arch avail pkgs parch target inc asm ver sha reason; do
        [[ $tag == ARCH ]] || continue
        known+=("$arch")
        AVAIL[$arch]=$avail PKGS[$arch]=$pkgs PARCH[$arch]=$parch TARGET[$arch]=$target
        INC[$arch]=$inc ASM[$arch]=$asm VER[$arch]=$ver SHA[$arch]=$sha REASON[$arch]=$reason
    done <<<"$q"

    local arches=("$@")
    ((${#arches[@]})) || arches=("${known[@]}")
    local a
    for a in "${arches[@]}"; do
        [[ -n ${AVAIL[$a]:-} ]] || die "set '$set' has no arch '$a' (known: ${known[*]})"
    done

    # Decide what needs fetching.
    local todo=() dest
    for a in "${arches[@]}"; do
        dest=$SETS_DIR/$set/$a
        if [[ ${AVAIL[$a]} == 0 ]]; then
            log "$set/$a: not available, skipped (${REASON[$a]})"
            continue
        fi
        if ((!FORCE)) && [[ -f $dest/include/linux/kvm.h && -f $dest/include/asm/kvm.h && -f $dest/VERSION ]] \
            && [[ ${SHA[$a]} != - && $(tree_sha "$dest/include") == "${SHA[$a]}" ]]; then
            log "$set/$a: up to date ($(<"$dest/VERSION"), sha256 ${SHA[$a]:0:12}…), nothing to do"
            continue
        fi
        todo+=("$a")
    done
    ((${#todo[@]})) || return 0

    # Temporary apt universe pointing at the suite only.
    if [[ -z $MIRROR ]]; then
        read -r MIRROR KEYRING < <(detect_mirror) || die "could not determine the Debian mirror"
        [[ -n $MIRROR ]] || die "could not determine the Debian mirror"
    fi
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvm-headers.XXXXXX")
    chmod 755 "$TMP"
    mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial" "$TMP/debs" "$TMP/x" "$TMP/stage"
    : >"$TMP/status"
    local signed=""
    [[ $KEYRING != - ]] && signed=" [signed-by=$KEYRING]"
    echo "deb$signed $MIRROR $suite main" >"$TMP/sources.list"
    # Let apt's download sandbox user write there (avoids the unsandboxed warning).
    if [[ $(id -u) == 0 ]] && id _apt >/dev/null 2>&1; then
        chown -R _apt:root "$TMP/lists" "$TMP/cache" "$TMP/debs"
    fi
    local apt_opts=(
        -q
        -o "Dir::Etc::SourceList=$TMP/sources.list"
        -o Dir::Etc::SourceParts=/dev/null
        -o Dir::Etc::Preferences=/dev/null
        -o Dir::Etc::PreferencesParts=/dev/null
        -o "Dir::State::Lists=$TMP/lists"
        -o "Dir::State::status=$TMP/status"
        -o "Dir::State::extended_states=$TMP/extended_states"
        -o "Dir::Cache=$TMP/cache"
        # x86_64 headers of the older suites are in an amd64 package; every
        # other package is arch all, which is listed in the amd64 index too.
        -o APT::Architecture=amd64
        -o APT::Architectures=amd64
        -o Acquire::Languages=none
    )
    log "$set: apt-get update for suite '$suite'"
    apt-get "${apt_opts[@]}" update >"$TMP/update.log" 2>&1 \
        || { cat "$TMP/update.log" >&2; die "apt-get update failed for suite '$suite'"; }
    grep -E '^(W|E):' "$TMP/update.log" >&2 || true

    local want=() p ps
    for a in "${todo[@]}"; do
        IFS=, read -r -a ps <<<"${PKGS[$a]}"
        for p in "${ps[@]}"; do
            [[ " ${want[*]-} " == *" $p "* ]] || want+=("$p")
        done
    done
    log "$set: downloading ${want[*]}"
    (cd "$TMP/debs" && apt-get "${apt_opts[@]}" download "${want[@]}") >"$TMP/download.log" 2>&1 \
        || { cat "$TMP/download.log" >&2; die "apt-get download failed for: ${want[*]}"; }

    local failed=0 deb debs root stage version lv got ps
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
            version+="${version:+ }$(dpkg-deb -f "$deb" Version)"
        done
        stage=$TMP/stage/$a/include
        mkdir -p "$stage"
        [[ -d $root/${INC[$a]}/linux && -d $root/${ASM[$a]} ]] \
            || die "$set/$a: ${PKGS[$a]} $version lacks ${INC[$a]}/linux or ${ASM[$a]}"
        # -L: the arch-all packages use symlinks into /usr/lib/linux/uapi.
        cp -RL "$root/${INC[$a]}/linux" "$stage/linux"
        [[ -d $root/${INC[$a]}/asm-generic ]] && cp -RL "$root/${INC[$a]}/asm-generic" "$stage/asm-generic"
        cp -RL "$root/${ASM[$a]}" "$stage/asm"
        if [[ ! -f $stage/linux/kvm.h || ! -f $stage/asm/kvm.h ]]; then
            log "$set/$a: ${PKGS[$a]} $version has no linux/kvm.h or asm/kvm.h;" \
                "mark it \"available\": false in sets.json"
            failed=1
            continue
        fi
        got=$(tree_sha "$stage")
        lv=$(linux_version_of "$stage")
        if [[ $got != "${SHA[$a]}" ]]; then
            if ((UPDATE)); then
                log "$set/$a: recording $version (linux $lv) sha256 $got in sets.json (was ${SHA[$a]})"
            else
                log "$set/$a: CHECKSUM MISMATCH for ${PKGS[$a]} $version (linux $lv):"
                log "    sets.json: ${SHA[$a]/#-/(none recorded)}"
                log "    fetched:   $got"
                dest=$SETS_DIR/$set/$a
                rm -rf "$dest.new"
                mkdir -p "$dest.new"
                mv "$stage" "$dest.new/include"
                echo "$version" >"$dest.new/VERSION"
                log "    The suite's KVM headers changed. The fetched tree is kept for review in"
                log "    ${dest#"$HERE"/}.new (existing tree untouched). Record the new checksum with:"
                log "    $0 --update-manifest $set $a"
                failed=1
                continue
            fi
        elif [[ $version != "${VER[$a]}" ]]; then
            log "$set/$a: note: got $version, sets.json says ${VER[$a]}; KVM headers identical (sha256 matches)"
        fi
        ((UPDATE)) && manifest_update "$set" "$a" "$version" "$lv" "$got"
        dest=$SETS_DIR/$set/$a
        rm -rf "$dest" "$dest.new"
        mkdir -p "$dest"
        mv "$stage" "$dest/include"
        echo "$version" >"$dest/VERSION"
        log "$set/$a: ${PKGS[$a]} $version (linux $lv) -> ${dest#"$HERE"/}/include"
    done
    rm -rf "$TMP"
    TMP=""
    return $failed
}

# ---------------------------------------------------------------- main
SET=${POS[0]:-}
ARCHES=("${POS[@]:1}")
if [[ -z $SET ]]; then
    SET=$(manifest_default) || die "bad default in $MANIFEST"
fi
if [[ $SET == all ]]; then
    read -r -a SETS <<<"$(manifest_sets)"
else
    SETS=("$SET")
fi

status=0
for s in "${SETS[@]}"; do
    fetch_set "$s" "${ARCHES[@]}" || status=1
done
((status == 0)) || die "some header trees failed verification (see above)"
