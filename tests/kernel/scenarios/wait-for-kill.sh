#!/bin/sh
# Init keeps running with a child in the background until someone stops it.
sleep 3600 &
echo started
exec sleep 3600
