#!/bin/sh
# Init handles SIGTERM: it records that it got it and exits 0, leaving its child to the
# kernel. $1: the file it writes.
trap 'echo term > "$1"; exit 0' TERM
sleep 3600 &
echo started
wait
