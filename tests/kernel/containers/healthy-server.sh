#!/bin/sh
# A healthy entrypoint: a helper in the background, the server in the foreground (exec), so
# the server is the container's init for as long as the container runs.
trap '' HUP
sleep 86400 &
exec sleep 3600
