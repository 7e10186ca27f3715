#!/bin/sh
# The entrypoint of the story in a busybox container: the server goes to the background and
# the script, the container's init, ends with 0. busybox has no nohup applet: ignore SIGHUP
# the way nohup would. The short sleep lets the background fork exec the server first.
trap '' HUP
sleep 3600 &
sleep 0.2
exit 0
