#!/usr/bin/env bash
# The package's check phase on exactly the package's source set, the way the
# Nix build sandbox runs it: as an unprivileged user, in a fresh network
# namespace with only loopback, offline, with HOME=/homeless-shelter.
#
#   NIXPKGS_LIB=/path/to/nixpkgs/lib sudo -E tests/source-set-check.sh
#
# - The file list is what nix/package.nix's lib.fileset selects, computed by
#   the nixpkgs library itself (tests/nix/package-source.nix), intersected with
#   the files git tracks (a flake's `self` holds only those).
# - The command is the package's: `cargo test --frozen <cargoTestFlags> --
#   --test-threads=N <checkFlags>` with the package's `env` (VRRPD_TEST_SANDBOX=1).
#   The Nix build uses the release profile; this runs the test profile, which
#   reuses a copy of the dependencies CI built already (set
#   VRRPD_SOURCE_SET_PROFILE=release for the Nix profile, several minutes more).
# - The test binaries the package leaves out (tests/netns_*.rs, driver_io.rs)
#   and every test that prints "SKIPPED <name>: <reason>" are counted as
#   skipped, never as passed.
# - The installed unit's Exec lines must all point into the store
#   (the package's postInstall, run on the copied tree).
#
# Needs root to create the namespace and drop to the unprivileged user.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -n "${NIXPKGS_LIB:-}" ]] || fail "NIXPKGS_LIB is not set: the source set is computed by nixpkgs' lib.fileset (.ci/run fetches it)"
[[ -f "$NIXPKGS_LIB/fileset/default.nix" ]] || fail "NIXPKGS_LIB=$NIXPKGS_LIB has no fileset/default.nix"
[[ $(id -u) == 0 ]] || fail "needs root: it creates a network namespace and drops to an unprivileged user (CI runs it as root)"
for tool in nix-instantiate python3 unshare setpriv ip git; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done

build_user=${VRRPD_SOURCE_SET_USER:-nobody}
uid=$(id -u "$build_user") gid=$(id -g "$build_user")
[[ $uid != 0 ]] || fail "the build user must not be root"
profile=${VRRPD_SOURCE_SET_PROFILE:-test}
threads=${NIX_BUILD_CORES:-$(nproc)}

work=$(mktemp -d /tmp/vrrpd-source-set.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

# --- What the package builds from, and how it tests -----------------------------
nix-instantiate --eval --strict --json tests/nix/package-source.nix \
  --arg nixpkgsLib "$NIXPKGS_LIB" >"$work/package.json" 2>"$work/eval.err" ||
  { cat "$work/eval.err" >&2; fail "tests/nix/package-source.nix does not evaluate"; }

python3 - "$work/package.json" "$work" <<'EOF'
import json, shlex, sys
p = json.load(open(sys.argv[1]))
work = sys.argv[2]
open(f"{work}/files", "w").write("\n".join(p["files"]) + "\n")
open(f"{work}/excluded", "w").write("\n".join(p["excludedTests"]) + "\n")
open(f"{work}/postInstall", "w").write(p["postInstall"])
with open(f"{work}/command", "w") as f:
    f.write("flags=(" + " ".join(map(shlex.quote, p["cargoTestFlags"])) + ")\n")
    f.write("check_flags=(" + " ".join(map(shlex.quote, p["checkFlags"])) + ")\n")
    f.write("env_vars=(" + " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(p["env"].items())) + ")\n")
if p["readFileTypePolyfilled"]:
    print("note: this Nix has no builtins.readFileType; lib.fileset ran with lib.filesystem.pathType derived from builtins.readDir")
EOF
# shellcheck source=/dev/null
source "$work/command"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files --cached | sort >"$work/tracked"
  sort "$work/files" | comm -12 - "$work/tracked" >"$work/selected"
else
  cp "$work/files" "$work/selected"
fi
echo "source set: $(wc -l <"$work/selected") files (nix/package.nix sourceFileset, tracked by git)"
for dir in $(cut -d/ -f1 "$work/selected" | sort -u); do printf '  %s\n' "$dir"; done

mkdir "$work/source"
tar -cf - -T "$work/selected" | tar -xf - -C "$work/source"
chmod -R u+w "$work/source"

# --- postInstall: the installed unit points into the store ----------------------
mkdir -p "$work/out"
if (cd "$work/source" && out="$work/out" bash -euo pipefail "$work/postInstall") >"$work/install.log" 2>&1; then
  echo "ok   postInstall: every Exec line of lib/systemd/system/vrrpd.service points into the store"
else
  cat "$work/install.log" >&2
  fail "the package's postInstall fails on the source set"
fi

# --- The toolchain and the dependencies, readable by the build user -------------
# They stay at the paths CI built them from (cargo fingerprints registry crates
# by their absolute source path), so the dependencies CI compiled already are
# reused: only vrrpd itself is rebuilt (its own path differs).
sysroot=$(rustc --print sysroot)
[[ -x "$sysroot/bin/cargo" ]] || fail "no cargo in the rustc sysroot $sysroot"
cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd)
mkdir -p "$work/toolchain" "$work/cargo-home"
# A private copy of the registry (the build user writes its locks and caches there).
cp -a "$cargo_home/registry" "$work/cargo-home/registry"
target_src=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$work/target"
if [[ $profile == test && -d "$target_src/debug/deps" ]]; then
  # The dependencies only: not vrrpd's own library, binary and test binaries.
  excludes=(--exclude='*vrrpd-*' --exclude='*vrrpd.*' --exclude='incremental')
  for test in "$repo"/tests/*.rs; do
    name=$(basename "$test" .rs)
    excludes+=(--exclude="$name-*")
  done
  (cd "$target_src" && tar -cf - "${excludes[@]}" debug/deps debug/build debug/.fingerprint 2>/dev/null) |
    tar -xf - -C "$work/target"
fi
chown -R "$uid:$gid" "$work/source" "$work/cargo-home" "$work/out" "$work/target"

profile_flag=()
[[ $profile == release ]] && profile_flag=(--release)

# --- The check phase, sandboxed -----------------------------------------------
# A fresh network namespace (loopback only, as in the Nix sandbox) and a
# private mount namespace. There, if the build user cannot reach the toolchain
# or the cargo home (root's home is 0700), a tmpfs hides root's home and both
# are mounted back at their own paths; the build user then runs with no
# capabilities, no groups and no way back (no_new_privs).
user_can() { setpriv --reuid="$uid" --regid="$gid" --clear-groups test "$@"; }
hide_home=
if ! user_can -x "$sysroot/bin/cargo" || ! user_can -r "$cargo_home"; then
  hide_home=$HOME
fi
mkdir -p "$work/tmp" && chown "$uid:$gid" "$work/tmp"
cat >"$work/inner.sh" <<EOF
set -euo pipefail
ip link set lo up
mount --bind -o ro "$sysroot" "$work/toolchain"
if [ -n "$hide_home" ]; then
  mount -t tmpfs -o mode=0755 vrrpd-source-set "$hide_home"
fi
mkdir -p "$sysroot" "$cargo_home"
mount --bind "$work/toolchain" "$sysroot"
mount --bind "$work/cargo-home" "$cargo_home"
cd "$work/source"
exec setpriv --reuid=$uid --regid=$gid --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all \\
  env -i PATH="$sysroot/bin:/usr/bin:/bin" HOME=/homeless-shelter TMPDIR="$work/tmp" \\
  CARGO_HOME="$cargo_home" CARGO_TARGET_DIR="$work/target" NIX_BUILD_CORES=$threads \\
  ${env_vars[*]@Q} \\
  cargo test -j $threads ${profile_flag[*]@Q} --frozen ${flags[*]@Q} -- --test-threads=$threads ${check_flags[*]@Q}
EOF

echo "running as $build_user (uid $uid) in a new network namespace: cargo test -j $threads ${profile_flag[*]} --frozen ${flags[*]} -- --test-threads=$threads ${check_flags[*]}"
status=0
start=$SECONDS
unshare --net --mount --propagation private bash "$work/inner.sh" >"$work/test.log" 2>&1 || status=$?
elapsed=$((SECONDS - start))
grep -E '^(test result:|SKIPPED |     Running |error|failures:|---- )' "$work/test.log" | sed 's/^/  /' || true

if ((status != 0)); then
  echo "--- last 60 lines of the check phase ---" >&2
  tail -n 60 "$work/test.log" >&2
  fail "the package's check phase fails on its own source set (exit $status, ${elapsed}s)"
fi

passed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed/) s += $i } END { print s + 0 }' "$work/test.log")
skipped_tests=$(grep -c '^SKIPPED ' "$work/test.log" || true)
excluded=$(grep -c . "$work/excluded" || true)
ignored=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^ignored/) s += $i } END { print s + 0 }' "$work/test.log")
echo
echo "skipped test binaries (the package leaves them out: they need root and network namespaces):"
sed 's/^/  /' "$work/excluded"
echo "source-set check: $((passed - skipped_tests)) tests passed, $skipped_tests skipped inside the run (SKIPPED lines above), $ignored ignored, $excluded test binaries not run; ${elapsed}s"
