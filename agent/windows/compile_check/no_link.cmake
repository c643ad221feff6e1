# CMAKE_PROJECT_INCLUDE of the compile check (.ci/mingw-w64-agent-check.cmake):
# an executable's "link" only touches its output file. Its objects and the
# static libraries it links are all built; the libraries themselves are
# header-only stand-ins (packages.cmake) with nothing to link against.
set(CMAKE_CXX_LINK_EXECUTABLE "\"${CMAKE_COMMAND}\" -E touch <TARGET>")
set(CMAKE_C_LINK_EXECUTABLE "\"${CMAKE_COMMAND}\" -E touch <TARGET>")
