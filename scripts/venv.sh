#!/usr/bin/env bash
# Creates .venv with the pinned tools of scripts/requirements.txt, once.
# A stamp keyed on the requirement list and the interpreter makes a second run a no-op.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ADPIPE_VENV:-$root/.venv}"
requirements="$root/scripts/requirements.txt"
python="${PYTHON:-python3}"
stamp="$venv/.adpipe-requirements.sha256"

command -v "$python" >/dev/null || { echo "venv.sh: $python not found; install Python 3.9+ or set PYTHON" >&2; exit 1; }

key="$({ cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(<"$stamp")" == "$key" ]]; then
  exit 0
fi

echo "venv.sh: installing pinned tools into ${venv#"$root"/} (about a minute the first time)" >&2
rm -f "$stamp"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv" || {
    echo "venv.sh: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  }
fi
pip_install() { "$1/bin/python" -m pip install --quiet --disable-pip-version-check "${@:2}"; }

# Lines marked `# own venv` (pins that conflict with the rest) go into .venv/tools/<name>,
# with .venv/bin/<name> linked to the tool's entry point; everything else into .venv itself.
own='^[^#[:space:]][^#]*#[[:space:]]*own venv'
shared="$(mktemp)"
trap 'rm -f "$shared"' EXIT
grep -v "$own" "$requirements" >"$shared" || true
pip_install "$venv" -r "$shared"
while IFS= read -r line; do
  spec="${line%%#*}"
  spec="${spec//[[:space:]]/}"
  name="${spec%%[=<>!~[]*}"
  tool="$venv/tools/$name"
  if [[ ! -x "$tool/bin/python" ]]; then
    "$python" -m venv "$tool"
  fi
  pip_install "$tool" "$spec"
  ln -sfn "../tools/$name/bin/$name" "$venv/bin/$name"
done < <(grep "$own" "$requirements" || true)
echo "$key" >"$stamp"
