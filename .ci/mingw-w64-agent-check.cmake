# Toolchain of the Windows agent's compile check (CTest windows_agent_compile_test,
# tests/windows/run-windows-agent-compile-check.sh): the mingw-w64 toolchain of
# the layer build, but the FULL Windows agent (agent/windows/windows_agent.cmake,
# the same CMake files as the vcpkg build), with every library a header-only
# stand-in (agent/windows/compile_check/) on Debian's headers. Every translation
# unit of reclaim-agent.exe, reclaim-agent-service.exe and reclaim-native-host.exe
# is compiled; nothing is linked (agent/windows/compile_check/no_link.cmake).
#   cmake -S . -B build-win-check -G Ninja -DCMAKE_TOOLCHAIN_FILE=$PWD/.ci/mingw-w64-agent-check.cmake
#   cmake --build build-win-check --target windows_agent_compile_check
# Debian-specific paths live here, not in the CMake lists.
include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64.cmake)
set(RECLAIM_WINDOWS_LAYER_ONLY OFF CACHE BOOL "" FORCE)
set(RECLAIM_WINDOWS_COMPILE_CHECK ON CACHE BOOL "" FORCE)
set(RECLAIM_BUILD_TESTS OFF CACHE BOOL "" FORCE)
# The libraries' headers, each linked into ONE staged include directory of the
# build tree (never /usr/include itself on the cross compiler's path: glibc's
# and Linux's headers must not shadow mingw-w64's). Entries with the same name
# are merged (OpenSSL's configuration headers live in the multiarch directory).
set(RECLAIM_COMPILE_CHECK_HEADERS
  /usr/include/absl /usr/include/google /usr/include/grpc /usr/include/grpcpp
  /usr/include/grpc++ /usr/include/spdlog /usr/include/fmt /usr/include/CLI
  /usr/include/toml /usr/include/toml.hpp /usr/include/nlohmann /usr/include/sqlite3.h
  /usr/include/sqlite3ext.h /usr/include/openssl /usr/include/x86_64-linux-gnu/openssl)
# POSIX headers that mingw-w64 has and MSVC (the vcpkg build) has not: staged
# as headers that stop the compile, so that a POSIX call cannot slip into the
# Windows build through mingw-w64's leniency. (<pthread.h> stays: mingw-w64's
# libstdc++ includes it for std::thread; <sys/time.h> too: gRPC's headers
# include it under mingw-w64.)
set(RECLAIM_COMPILE_CHECK_MSVC_MISSING_HEADERS unistd.h dirent.h strings.h)
# The host's code generators (same versions as the headers).
set(RECLAIM_COMPILE_CHECK_PROTOC /usr/bin/protoc)
set(RECLAIM_COMPILE_CHECK_GRPC_PLUGIN /usr/bin/grpc_cpp_plugin)
# find_package() finds the stand-ins (Find modules and <Name>Config.cmake files).
list(PREPEND CMAKE_MODULE_PATH ${CMAKE_CURRENT_LIST_DIR}/../agent/windows/compile_check)
foreach(_pkg absl gRPC spdlog fmt CLI11 toml11 nlohmann_json)
  set(${_pkg}_DIR ${CMAKE_CURRENT_LIST_DIR}/../agent/windows/compile_check CACHE PATH "" FORCE)
endforeach()
# Executables are not linked (their objects are all the check needs).
set(CMAKE_PROJECT_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/../agent/windows/compile_check/no_link.cmake)
