#!/bin/sh
# Link launcher of reclaim-agent (CMake RULE_LAUNCH_LINK, Ninja and Makefile
# generators): runs the link command CMake made with protobuf(-lite), Abseil,
# SQLite and libdbus-1 taken from their static archives instead of their
# shared libraries, so the per-session agent maps only the code it uses of
# them, not their whole symbol tables, relocations and text (issue 3: about
# 1.6 MB less resident memory for the first three; libdbus-1 static also
# drops libsystemd and the compression and crypto libraries it loads, about
# 0.7 MB; see no_socket_activation.cc). A shared library without a static
# archive beside it is kept as it is. The archives are linked as one group
# (Abseil's depend on each other in no single order).
#   usage: link_static_deps.sh LINKER ARGS...
set -eu
first=1
in_group=0
for a in "$@"; do
  if [ $first = 1 ]; then set --; first=0; fi
  case "$a" in
    */libprotobuf.so | */libprotobuf.so.* | */libprotobuf-lite.so | */libprotobuf-lite.so.* | */libabsl_*.so | */libabsl_*.so.* | */libsqlite3.so | */libsqlite3.so.* | */libdbus-1.so | */libdbus-1.so.*)
      static="${a%%.so*}.a"
      if [ -f "$static" ]; then
        if [ $in_group = 0 ]; then set -- "$@" -Wl,--start-group; in_group=1; fi
        set -- "$@" "$static"
        continue
      fi
      ;;
  esac
  set -- "$@" "$a"
done
if [ $in_group = 1 ]; then set -- "$@" -Wl,--end-group; fi
exec "$@"
