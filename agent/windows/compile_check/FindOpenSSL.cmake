# Compile-check stand-in for find_package(OpenSSL) (packages.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/packages.cmake)
set(OpenSSL_FOUND TRUE)
