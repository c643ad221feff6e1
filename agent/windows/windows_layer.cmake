# The Windows layer without gRPC, protobuf, abseil or SQLite: included by the
# top-level CMakeLists.txt when RECLAIM_WINDOWS_LAYER_ONLY is on (the mingw-w64
# cross build of .ci/mingw-w64.cmake, whose tests CTest runs under Wine).
#   reclaim_common_std, reclaim_meter   the same sources as on Linux, unchanged
#   reclaim_secret_acl                 owner-only secret files by DACL (common/)
#   reclaim_suspend_detector           the pure detector + the Windows awake clock
#   reclaim_metering_loop              the real-time metering loop (agent/core), with
#                                      spdlog header-only
#   reclaim_prompt_policy              when consent prompts may show (agent/core)
#   reclaim_platform_sources           Win32 focus, idle and session sources
#   reclaim_process_platform           agent/platform for Windows (user, OS, device
#                                      id, stop requests)
#   reclaim_windows_prompt             the consent prompt dialog (ConsentPrompter)
#   reclaim_browser_windows            the browser bridge's pipe name and DACL
#                                      (browser_address.h) and which browser
#                                      started a native host (browser_process.h)
#   reclaim_service_host               how reclaim-agent-service runs under the SCM
#                                      (agent/service/service_host.h)
#   reclaim_local_channel              agent/local/local_channel.h for Windows (named
#                                      pipes: the agent <-> service channel)
#   reclaim_relay_spawner_windows      agent/local/relay_process.h for Windows (the
#                                      direct mode's relay process, FindAgentService);
#                                      in the full build: reclaim_relay_process
# Tests: GoogleTest from find_package(GTest) or, when absent (cross builds),
# built from source at RECLAIM_GTEST_SOURCE_DIR.
# (common/ and agent/meter/ are listed here rather than added: their
# CMakeLists also define targets that need abseil and SQLite.)
add_library(reclaim_common_std STATIC common/clock.cc common/backoff.cc common/utf8.cc)
target_link_libraries(reclaim_common_std PUBLIC reclaim_settings)
# Owner-only secret files' Win32 half (common/secret_acl_windows.h).
add_library(reclaim_secret_acl STATIC common/secret_acl_windows.cc)
target_compile_definitions(reclaim_secret_acl PRIVATE UNICODE _UNICODE)
target_link_libraries(reclaim_secret_acl PUBLIC reclaim_settings
  PRIVATE reclaim_win32_strings advapi32)
add_library(reclaim_meter STATIC agent/meter/meter.cc)
target_link_libraries(reclaim_meter PUBLIC reclaim_common_std)
add_library(reclaim_suspend_detector STATIC agent/sources/suspend_detector.cc
  agent/sources/suspend_detector_windows.cc)
target_link_libraries(reclaim_suspend_detector PUBLIC reclaim_meter)
find_package(Threads REQUIRED)

# spdlog (and fmt) header-only: an installed package when the toolchain has
# one, else the header directories RECLAIM_HEADER_ONLY_DIRS names (the mingw
# toolchain file: Debian's /usr/include/spdlog and /usr/include/fmt), linked
# into one include directory of the build tree so that no other host header
# is on the cross compiler's path.
find_package(spdlog CONFIG QUIET)
if(NOT TARGET spdlog::spdlog)
  set(RECLAIM_HEADER_ONLY_DIRS "" CACHE STRING "Header-only library directories (spdlog, fmt)")
  set(_ho ${CMAKE_BINARY_DIR}/header-only-include)
  file(MAKE_DIRECTORY ${_ho})
  foreach(_d ${RECLAIM_HEADER_ONLY_DIRS})
    if(NOT IS_DIRECTORY ${_d})
      message(FATAL_ERROR "header-only library directory ${_d} is missing (libspdlog-dev, libfmt-dev)")
    endif()
    get_filename_component(_n ${_d} NAME)
    file(CREATE_LINK ${_d} ${_ho}/${_n} SYMBOLIC)
  endforeach()
  if(NOT EXISTS ${_ho}/spdlog/spdlog.h)
    message(FATAL_ERROR "spdlog not found: set RECLAIM_HEADER_ONLY_DIRS or spdlog_DIR")
  endif()
  add_library(reclaim_spdlog_header_only INTERFACE)
  target_include_directories(reclaim_spdlog_header_only SYSTEM INTERFACE ${_ho})
  target_compile_definitions(reclaim_spdlog_header_only INTERFACE FMT_HEADER_ONLY)
  add_library(spdlog::spdlog ALIAS reclaim_spdlog_header_only)
endif()

# The consent prompts' pacing rules (pure).
add_library(reclaim_prompt_policy STATIC agent/core/prompt_policy.cc)
target_link_libraries(reclaim_prompt_policy PUBLIC reclaim_common_std)
add_library(reclaim_metering_loop STATIC agent/core/metering_loop.cc)
target_link_libraries(reclaim_metering_loop PUBLIC reclaim_meter reclaim_suspend_detector
  spdlog::spdlog Threads::Threads PRIVATE reclaim_process_platform)
add_subdirectory(agent/windows)
add_library(reclaim_local_channel STATIC agent/local/local_channel_windows.cc)
target_link_libraries(reclaim_local_channel PUBLIC reclaim_settings PRIVATE reclaim_win32_strings
  advapi32)
# (the same two targets as agent/browser/CMakeLists.txt defines on Windows)
add_library(reclaim_browser_address STATIC agent/browser/browser_address.cc)
target_link_libraries(reclaim_browser_address PUBLIC reclaim_settings)
add_library(reclaim_browser_windows STATIC agent/browser/browser_process_windows.cc)
target_link_libraries(reclaim_browser_windows PUBLIC reclaim_browser_address)
add_library(reclaim_relay_spawner_windows STATIC agent/local/relay_process_windows.cc
  agent/local/command_line_windows.cc)
target_link_libraries(reclaim_relay_spawner_windows PUBLIC reclaim_settings reclaim_local_channel
  PRIVATE reclaim_win32_strings)

if(RECLAIM_BUILD_TESTS)
  enable_testing()
  find_package(GTest CONFIG QUIET)
  if(NOT TARGET GTest::gmock_main)
    set(RECLAIM_GTEST_SOURCE_DIR "" CACHE PATH "GoogleTest sources, when no installed GTest")
    if(NOT EXISTS "${RECLAIM_GTEST_SOURCE_DIR}/CMakeLists.txt")
      message(FATAL_ERROR "GoogleTest not found: set GTest_DIR or RECLAIM_GTEST_SOURCE_DIR")
    endif()
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(gtest_force_shared_crt ON CACHE BOOL "" FORCE)
    add_subdirectory(${RECLAIM_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
    if(NOT TARGET GTest::gmock_main)  # GoogleTest >= 1.11 defines it
      add_library(GTest::gmock_main ALIAS gmock_main)
    endif()
  endif()
  add_subdirectory(tests/windows)
endif()
