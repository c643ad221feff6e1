# The full Windows agent, with its libraries from vcpkg (agent/windows/vcpkg.json):
# included by the top-level CMakeLists.txt on Windows unless
# RECLAIM_WINDOWS_LAYER_ONLY. Endpoints need no collector: only proto/,
# common/, agent/ and the Windows tests are built. Nothing here names a
# distribution's paths: every package comes from find_package (vcpkg's
# toolchain file puts its installed tree first).
#
# The same targets as on Linux, with the Windows twins chosen in each
# directory's CMakeLists.txt: reclaim-agent (no gRPC: its uplink is
# LocalUplink over agent/local/local_channel_windows.cc, a named pipe, and
# direct mode's relays from agent/local/relay_process_windows.cc) and
# reclaim-agent-service (the machine service on \\.\pipe\reclaim-agent-service
# and `relay --fd HANDLE`).
#
# The compile check (RECLAIM_WINDOWS_COMPILE_CHECK, set by
# .ci/mingw-w64-agent-check.cmake) configures this same file with mingw-w64 on
# Debian: its toolchain file points every find_package() below at header-only
# stand-ins (agent/windows/compile_check/packages.cmake), and
# compile_check/check.cmake defines windows_agent_compile_check, which
# compiles every translation unit of the agent's executables without linking.
option(RECLAIM_WINDOWS_COMPILE_CHECK "Compile (not link) the Windows agent against stand-in packages" OFF)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(toml11 CONFIG REQUIRED)

add_subdirectory(proto)
add_subdirectory(common)
add_subdirectory(agent)

if(RECLAIM_WINDOWS_COMPILE_CHECK)
  include(agent/windows/compile_check/check.cmake)
endif()

if(RECLAIM_BUILD_TESTS)
  enable_testing()
  find_package(GTest CONFIG REQUIRED)
  add_subdirectory(tests/windows)
endif()
