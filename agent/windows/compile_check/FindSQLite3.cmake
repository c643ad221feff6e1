# Compile-check stand-in for find_package(SQLite3) (packages.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/packages.cmake)
set(SQLite3_FOUND TRUE)
