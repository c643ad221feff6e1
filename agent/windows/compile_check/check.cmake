# The Windows agent's compile check (CTest windows_agent_compile_test):
# included at the end of windows_agent.cmake when RECLAIM_WINDOWS_COMPILE_CHECK
# is on (.ci/mingw-w64-agent-check.cmake). Target windows_agent_compile_check
# builds reclaim-agent.exe, reclaim-agent-service.exe and
# reclaim-native-host.exe, i.e. compiles every translation unit of theirs and
# of every library they link, directly or not (nothing is linked:
# no_link.cmake). The translation units are read from the targets, so new
# files and libraries are checked without a list to maintain; the few not
# compiled yet are named in pending.cmake. The list goes to
# <build>/windows-agent-translation-units.txt.
include(${CMAKE_CURRENT_LIST_DIR}/pending.cmake)

# The non-imported targets `target` links, directly or through other targets.
function(_reclaim_linked_targets target out)
  set(_seen ${${out}})
  set(_todo ${target})
  while(_todo)
    list(POP_FRONT _todo _t)
    if(NOT TARGET ${_t} OR _t IN_LIST _seen)
      continue()
    endif()
    get_target_property(_imported ${_t} IMPORTED)
    if(_imported)
      continue()
    endif()
    get_target_property(_aliased ${_t} ALIASED_TARGET)
    if(_aliased)
      list(APPEND _todo ${_aliased})
      continue()
    endif()
    list(APPEND _seen ${_t})
    foreach(_prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(_libs ${_t} ${_prop})
      foreach(_l IN LISTS _libs)
        string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" _l "${_l}")
        if(TARGET ${_l})
          list(APPEND _todo ${_l})
        endif()
      endforeach()
    endforeach()
  endwhile()
  set(${out} ${_seen} PARENT_SCOPE)
endfunction()

set(_programs reclaim-agent reclaim-agent-service reclaim-native-host)
set(_built)
set(_targets)
foreach(_p ${_programs})
  if(TARGET ${_p})
    if(_p IN_LIST RECLAIM_COMPILE_CHECK_PENDING_TARGETS)
      message(WARNING "compile check: ${_p} is now defined: remove it from pending.cmake")
    endif()
    list(APPEND _built ${_p})
    _reclaim_linked_targets(${_p} _targets)
  elseif(_p IN_LIST RECLAIM_COMPILE_CHECK_PENDING_TARGETS)
    message(STATUS "compile check: ${_p} is not defined for Windows yet (pending.cmake)")
  else()
    message(FATAL_ERROR "compile check: the Windows build defines no target ${_p} "
      "(and agent/windows/compile_check/pending.cmake does not list it)")
  endif()
endforeach()

set(_checked)
set(_excluded)
foreach(_t ${_targets})
  get_target_property(_dir ${_t} SOURCE_DIR)
  get_target_property(_srcs ${_t} SOURCES)
  foreach(_s IN LISTS _srcs)
    if(NOT _s MATCHES "\\.(cc|cpp|cxx|c)$")
      continue()
    endif()
    cmake_path(ABSOLUTE_PATH _s BASE_DIRECTORY ${_dir} NORMALIZE OUTPUT_VARIABLE _abs)
    cmake_path(IS_PREFIX CMAKE_BINARY_DIR ${_abs} _generated)
    if(_generated)  # protoc's output
      cmake_path(RELATIVE_PATH _abs BASE_DIRECTORY ${CMAKE_BINARY_DIR} OUTPUT_VARIABLE _rel)
      string(PREPEND _rel "<build>/")
    else()
      cmake_path(RELATIVE_PATH _abs BASE_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE _rel)
    endif()
    if(_rel IN_LIST RECLAIM_COMPILE_CHECK_PENDING_SOURCES)
      set_source_files_properties(${_abs} TARGET_DIRECTORY ${_t} PROPERTIES HEADER_FILE_ONLY ON)
      list(APPEND _excluded "${_rel} (${_t})")
    else()
      list(APPEND _checked "${_rel} (${_t})")
    endif()
  endforeach()
endforeach()
foreach(_s ${RECLAIM_COMPILE_CHECK_PENDING_SOURCES})
  if(NOT _excluded MATCHES "(^|;)${_s} ")
    message(WARNING "compile check: pending.cmake lists ${_s}, which no target of "
      "${_built} compiles: remove it from the list")
  endif()
endforeach()

list(LENGTH _checked _n_checked)
list(LENGTH _excluded _n_excluded)
list(JOIN _checked "\n  " _checked_text)
list(JOIN _excluded "\n  " _excluded_text)
file(WRITE ${CMAKE_BINARY_DIR}/windows-agent-translation-units.txt
  "Programs: ${_built}\nPending programs: ${RECLAIM_COMPILE_CHECK_PENDING_TARGETS}\n"
  "Compiled (${_n_checked}):\n  ${_checked_text}\n"
  "Pending, not compiled (${_n_excluded}):\n  ${_excluded_text}\n")
message(STATUS "compile check: ${_n_checked} translation units of ${_built}; "
  "${_n_excluded} pending (${CMAKE_BINARY_DIR}/windows-agent-translation-units.txt)")

add_custom_target(windows_agent_compile_check
  COMMAND ${CMAKE_COMMAND} -E echo "compile check: ${_n_checked} translation units compiled, ${_n_excluded} pending")
add_dependencies(windows_agent_compile_check ${_built})
