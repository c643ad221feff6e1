#!/bin/sh
# reclaim-agent runs in every user session and must stay small: it must not
# load gRPC (linking libgrpc++ alone costs ~6 MB of resident memory and its
# timer threads wake the process). Its uplink goes through
# reclaim-agent-service. Fails when the agent, or any library it loads,
# needs a gRPC library. Usage: agent_links_no_grpc_test.sh PATH/TO/reclaim-agent
set -eu
agent="$1"
command -v ldd >/dev/null || { echo "FAIL: ldd not found"; exit 1; }
command -v readelf >/dev/null || { echo "FAIL: readelf not found (binutils)"; exit 1; }
[ -x "$agent" ] || { echo "FAIL: $agent is not an executable"; exit 1; }
needed=$(readelf -d "$agent" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "FAIL: readelf found no shared libraries in $agent"; exit 1; }
loaded=$(ldd "$agent")
echo "$agent needs: $(echo $needed)"
if echo "$loaded" | grep -Ei 'lib(grpc|gpr|upb|address_sorting)'; then
  echo "FAIL: reclaim-agent loads gRPC (above); its uplink must go through reclaim-agent-service"
  exit 1
fi
# Nor statically: no gRPC symbol (C core grpc_*, C++ grpc::), defined or not.
if readelf -Ws "$agent" | grep -Eq '_ZN4grpc|[[:space:]]grpc_'; then
  echo "FAIL: reclaim-agent contains gRPC symbols (statically linked)"
  exit 1
fi
echo "OK: no gRPC in reclaim-agent"
