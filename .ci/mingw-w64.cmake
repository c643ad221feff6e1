# Toolchain for the Windows platform layer, cross-built on Debian with
# mingw-w64 (posix thread model: std::thread and std::mutex need it) and
# tested under Wine. Debian-specific paths live here, not in the CMake lists.
#   cmake -S . -B build-win -G Ninja -DCMAKE_TOOLCHAIN_FILE=.ci/mingw-w64.cmake
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# No libstdc++/libgcc/winpthread DLLs to ship or find under Wine.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
# Only the standard-C++ parts and the Win32 layer: no gRPC, protobuf, abseil or SQLite here.
set(RECLAIM_WINDOWS_LAYER_ONLY ON CACHE BOOL "")
set(RECLAIM_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "")
# spdlog and fmt header-only for the metering loop (agent/windows/windows_layer.cmake).
set(RECLAIM_HEADER_ONLY_DIRS /usr/include/spdlog /usr/include/fmt CACHE STRING "")
# CTest runs the .exe tests through Wine (with a prefix, no debug noise, a virtual desktop).
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../tests/windows/wine-run.sh)
