#!/bin/sh
# Init ignores SIGTERM (as any PID 1 without a handler does) and has children that ignore it
# too: only a SIGKILL ends this namespace.
trap '' TERM
sleep 3600 &
sh -c "trap '' TERM; sleep 3600" &
echo started
wait
