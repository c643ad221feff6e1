# Compile-check stand-in (packages.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/packages.cmake)
