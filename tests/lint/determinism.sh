#!/usr/bin/env bash
# Consensus-critical code (chain/, consensus/ engines, market/) reads no clock, no random source and no float
# (DESIGN.md, Chain).  Fails naming each offending line.  The one allowed use of
# randomness is chain_keypair_random (key generation, never called by execution).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
calls='\b(time|clock|clock_gettime|gettimeofday|rand|random|srand|rand_r|drand48|arc4random|getrandom|randombytes_[a-z_]+)\s*\('
types='\b(float|double)\b\s*[A-Za-z_*(]'
files=("$root"/chain/*.[ch] "$root"/consensus/*.[ch] "$root"/market/*.[ch])
bad=$( { grep -nE "$calls" "${files[@]}" || true;
         grep -nE "$types" "${files[@]}" || true; } \
       | grep -vE '^\S+:[0-9]+:\s*(/?\*|//)' || true)
if [ -n "$bad" ]; then
  echo "determinism: clock, random source or float in consensus-critical code:"
  echo "$bad"
  exit 1
fi
echo "determinism: chain/, consensus/ and market/ have no clock, random source or float"
