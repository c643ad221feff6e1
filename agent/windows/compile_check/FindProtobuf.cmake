# Compile-check stand-in for find_package(Protobuf) (packages.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/packages.cmake)
set(Protobuf_FOUND TRUE)
