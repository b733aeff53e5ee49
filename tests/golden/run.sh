#!/usr/bin/env bash
# run.sh -- golden files for `gridctl market clear`: run the real binary on each
# DIR/*.json book (not *.out.json) and diff its output with DIR/<name>.out.json.
#
#   run.sh GRIDCTL DIR        (GL_GOLDEN_UPDATE=1 rewrites the .out.json files;
#                              check every change by hand before committing it)
set -u
gridctl=${1:?usage: run.sh GRIDCTL DIR}
dir=${2:?usage: run.sh GRIDCTL DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
for book in "$dir"/*.json; do
    case "$book" in *.out.json) continue ;; esac
    name=$(basename "$book" .json)
    want="$dir/$name.out.json"
    n=$((n + 1))
    if ! "$gridctl" market clear < "$book" > "$tmp/$name.out" 2> "$tmp/$name.err"; then
        echo "FAIL $name: gridctl exited non-zero:"; cat "$tmp/$name.err"
        fail=1; continue
    fi
    if [ "${GL_GOLDEN_UPDATE:-0}" = 1 ]; then
        cp "$tmp/$name.out" "$want"; echo "updated $want"; continue
    fi
    if [ ! -f "$want" ]; then
        echo "FAIL $name: no $want"; fail=1; continue
    fi
    if ! diff -u "$want" "$tmp/$name.out"; then
        echo "FAIL $name: output differs from $want"; fail=1; continue
    fi
    # determinism: a second run gives the same bytes
    "$gridctl" market clear < "$book" > "$tmp/$name.again" 2>/dev/null
    if ! cmp -s "$tmp/$name.out" "$tmp/$name.again"; then
        echo "FAIL $name: a second run gave different bytes"; fail=1; continue
    fi
    echo "ok   $name"
done
if [ "$n" = 0 ]; then echo "FAIL: no golden books in $dir"; exit 1; fi
exit $fail
