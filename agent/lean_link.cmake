# reclaim_lean_link(<executable>): relinks <executable> against "lean" copies
# of the project libraries it links, so that the per-session reclaim-agent
# maps less code (issue 3: at most 8 MB resident; agent_footprint_bench).
# A lean copy is the same sources compiled with
#   - protobuf-lite: reclaim_proto_messages -> reclaim_proto_messages_lite,
#     the same .proto files generated with `--cpp_out=lite:` (same package,
#     same wire format; no descriptors, reflection or text format), and
#   - spdlog and fmt compiled in (header-only) instead of their shared
#     libraries, which need the shared libstdc++: with them gone the
#     executable can take libstdc++ and libgcc from their static archives.
# Only libraries whose link closure contains one of those are copied; the
# others are linked as they are. The executable must never link the full
# protobuf messages as well (the generated classes have the same names).
# Call it after every library <executable> links has been defined.

# Header-only spdlog over header-only fmt (Debian's spdlog::spdlog_header_only
# still links the shared libfmt).
if(NOT TARGET reclaim_spdlog_header_only)
  add_library(reclaim_spdlog_header_only INTERFACE)
  get_target_property(_spdlog_inc spdlog::spdlog INTERFACE_INCLUDE_DIRECTORIES)
  target_include_directories(reclaim_spdlog_header_only SYSTEM INTERFACE ${_spdlog_inc})
  target_compile_definitions(reclaim_spdlog_header_only INTERFACE SPDLOG_FMT_EXTERNAL
    FMT_HEADER_ONLY=1)
  target_link_libraries(reclaim_spdlog_header_only INTERFACE Threads::Threads)
endif()

# Sets <out_var> to what a lean link uses instead of <item> (a target name,
# a $<LINK_ONLY:...> wrapper or a plain library).
function(_reclaim_lean_item item out_var)
  if(item MATCHES "^\\$<LINK_ONLY:(.+)>$")
    _reclaim_lean_item("${CMAKE_MATCH_1}" _inner)
    set(${out_var} "$<LINK_ONLY:${_inner}>" PARENT_SCOPE)
    return()
  endif()
  if(item STREQUAL "spdlog::spdlog")
    set(${out_var} reclaim_spdlog_header_only PARENT_SCOPE)
    return()
  elseif(item STREQUAL "fmt::fmt")
    set(${out_var} fmt::fmt-header-only PARENT_SCOPE)
    return()
  elseif(item STREQUAL "reclaim_proto_messages")
    set(${out_var} reclaim_proto_messages_lite PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET "${item}")
    set(${out_var} "${item}" PARENT_SCOPE)
    return()
  endif()
  get_target_property(_imported "${item}" IMPORTED)
  get_target_property(_aliased "${item}" ALIASED_TARGET)
  if(_imported OR _aliased)
    set(${out_var} "${item}" PARENT_SCOPE)
    return()
  endif()
  get_property(_done GLOBAL PROPERTY "RECLAIM_LEAN_${item}" SET)
  if(_done)
    get_property(_mapped GLOBAL PROPERTY "RECLAIM_LEAN_${item}")
    set(${out_var} "${_mapped}" PARENT_SCOPE)
    return()
  endif()

  get_target_property(_type "${item}" TYPE)
  set(_props LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    set(_props INTERFACE_LINK_LIBRARIES)
  endif()
  set(_changed FALSE)
  foreach(_p IN LISTS _props)
    get_target_property(_libs "${item}" ${_p})
    set(_new_${_p})
    if(_libs)
      foreach(_l IN LISTS _libs)
        _reclaim_lean_item("${_l}" _m)
        if(NOT _m STREQUAL _l)
          set(_changed TRUE)
        endif()
        list(APPEND _new_${_p} "${_m}")
      endforeach()
    endif()
  endforeach()
  if(NOT _changed)
    set_property(GLOBAL PROPERTY "RECLAIM_LEAN_${item}" "${item}")
    set(${out_var} "${item}" PARENT_SCOPE)
    return()
  endif()

  set(_clone "${item}_lean")
  if(_type STREQUAL "INTERFACE_LIBRARY")
    add_library(${_clone} INTERFACE)
  elseif(_type STREQUAL "STATIC_LIBRARY")
    get_target_property(_srcs "${item}" SOURCES)
    get_target_property(_sdir "${item}" SOURCE_DIR)
    set(_abs)
    foreach(_s IN LISTS _srcs)
      if(IS_ABSOLUTE "${_s}")
        list(APPEND _abs "${_s}")
      else()
        list(APPEND _abs "${_sdir}/${_s}")
      endif()
    endforeach()
    add_library(${_clone} STATIC ${_abs})
    foreach(_p INCLUDE_DIRECTORIES COMPILE_DEFINITIONS COMPILE_OPTIONS COMPILE_FEATURES)
      get_target_property(_v "${item}" ${_p})
      if(_v)
        set_property(TARGET ${_clone} PROPERTY ${_p} "${_v}")
      endif()
    endforeach()
    set_property(TARGET ${_clone} PROPERTY LINK_LIBRARIES "${_new_LINK_LIBRARIES}")
  else()
    message(FATAL_ERROR "reclaim_lean_link: cannot copy ${item} (${_type})")
  endif()
  foreach(_p INTERFACE_INCLUDE_DIRECTORIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
             INTERFACE_COMPILE_DEFINITIONS INTERFACE_COMPILE_OPTIONS INTERFACE_COMPILE_FEATURES)
    get_target_property(_v "${item}" ${_p})
    if(_v)
      set_property(TARGET ${_clone} PROPERTY ${_p} "${_v}")
    endif()
  endforeach()
  set_property(TARGET ${_clone} PROPERTY INTERFACE_LINK_LIBRARIES
    "${_new_INTERFACE_LINK_LIBRARIES}")
  set_property(GLOBAL PROPERTY "RECLAIM_LEAN_${item}" "${_clone}")
  set(${out_var} "${_clone}" PARENT_SCOPE)
endfunction()

function(reclaim_lean_link exe)
  get_target_property(_libs ${exe} LINK_LIBRARIES)
  set(_new)
  foreach(_l IN LISTS _libs)
    _reclaim_lean_item("${_l}" _m)
    list(APPEND _new "${_m}")
  endforeach()
  set_property(TARGET ${exe} PROPERTY LINK_LIBRARIES "${_new}")
  target_link_options(${exe} PRIVATE -static-libstdc++ -static-libgcc)
endfunction()
