#!/bin/sh
# Every key the binary knows must be documented in doc/config.md, and every
# key documented there must exist.
set -eu
postern=$1
doc=$2
rc=0
keys=$("$postern" --config-keys | awk '/^[a-z]/ {print $1}')
[ -n "$keys" ] || { echo "no keys printed"; exit 1; }
for k in $keys; do
	grep -q "^| \`$k\` |" "$doc" || { echo "undocumented config key: $k"; rc=1; }
done
for k in $(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' "$doc"); do
	echo "$keys" | grep -qx "$k" || { echo "documented key that does not exist: $k"; rc=1; }
done
exit $rc
