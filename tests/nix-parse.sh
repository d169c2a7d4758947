#!/usr/bin/env bash
# `nix-instantiate --parse` on every tracked and untracked (not ignored) .nix file.
# Needs only nix-instantiate (Debian's nix-bin is enough): no evaluation, no network.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

command -v nix-instantiate >/dev/null || { echo "FAIL: nix-instantiate not found" >&2; exit 1; }

mapfile -t files < <(
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- '*.nix'
  else
    find . -name '*.nix' -not -path './target/*' -printf '%P\n'
  fi | sort -u
)

if ((${#files[@]} == 0)); then
  echo "FAIL: no .nix files found" >&2
  exit 1
fi

failures=0
for file in "${files[@]}"; do
  [[ -f "$file" ]] || continue # deleted in the work tree, still in the index
  if nix-instantiate --parse "$file" >/dev/null 2>"${TMPDIR:-/tmp}/nix-parse.err.$$"; then
    echo "ok   $file"
  else
    echo "FAIL $file" >&2
    sed 's/^/     /' "${TMPDIR:-/tmp}/nix-parse.err.$$" >&2
    failures=$((failures + 1))
  fi
done
rm -f "${TMPDIR:-/tmp}/nix-parse.err.$$"

if ((failures > 0)); then
  echo "nix-parse: $failures of ${#files[@]} .nix files do not parse"
  exit 1
fi
echo "nix-parse: all ${#files[@]} .nix files parse"
