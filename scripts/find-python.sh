#!/usr/bin/env bash
# Prints the path of the newest working Python >= 3.12 (PATH first, then pyenv's versions), or nothing.
set -u
candidates=()
for name in python3.14 python3.13 python3.12 python3; do
  path=$(command -v "$name" 2>/dev/null) || continue
  candidates+=("$path")
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for dir in $(ls -d "$root"/versions/3.* 2>/dev/null | sort -rV); do
    candidates+=("$dir/bin/python3")
  done
fi
best=""
best_version=0
for path in "${candidates[@]}"; do
  [ -x "$path" ] || continue
  # A pyenv shim for an unselected version exits non-zero here, which rules it out.
  version=$("$path" -c 'import sys; print(sys.version_info[0] * 100 + sys.version_info[1])' 2>/dev/null) || continue
  "$path" -c 'import venv, ensurepip' >/dev/null 2>&1 || continue
  if [ "$version" -ge 312 ] && [ "$version" -gt "$best_version" ]; then
    best=$path
    best_version=$version
  fi
done
echo "$best"
