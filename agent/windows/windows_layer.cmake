# The Windows layer without gRPC, protobuf, abseil or SQLite: included by the
# top-level CMakeLists.txt when RECLAIM_WINDOWS_LAYER_ONLY is on (the mingw-w64
# cross build of .ci/mingw-w64.cmake, whose tests CTest runs under Wine).
#   reclaim_common_std, reclaim_meter   the same sources as on Linux, unchanged
#   reclaim_suspend_detector           the pure detector + the Windows awake clock
#   reclaim_platform_sources           Win32 focus, idle and session sources
#   reclaim_windows_prompt             the consent prompt dialog (ConsentPrompter)
# Tests: GoogleTest from find_package(GTest) or, when absent (cross builds),
# built from source at RECLAIM_GTEST_SOURCE_DIR.
# (common/ and agent/meter/ are listed here rather than added: their
# CMakeLists also define targets that need abseil and SQLite.)
add_library(reclaim_common_std STATIC common/clock.cc common/backoff.cc common/utf8.cc)
target_link_libraries(reclaim_common_std PUBLIC reclaim_settings)
add_library(reclaim_meter STATIC agent/meter/meter.cc)
target_link_libraries(reclaim_meter PUBLIC reclaim_common_std)
add_library(reclaim_suspend_detector STATIC agent/sources/suspend_detector.cc
  agent/sources/suspend_detector_windows.cc)
target_link_libraries(reclaim_suspend_detector PUBLIC reclaim_meter)
find_package(Threads REQUIRED)
add_subdirectory(agent/windows)

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
