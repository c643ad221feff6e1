# Header-only stand-ins for the Windows agent's libraries, under vcpkg's target
# names, for the compile check (.ci/mingw-w64-agent-check.cmake). Every
# find_package() of windows_agent.cmake, common/ and agent/ lands here (the
# Find modules and <Name>Config.cmake files of this directory include this
# file), so the check configures the same CMake lists as the vcpkg build.
# Every target is an IMPORTED INTERFACE library whose include directory is one
# staged directory of the build tree (symbolic links to the headers named by
# RECLAIM_COMPILE_CHECK_HEADERS): compiling works, linking would not (nothing
# is linked: no_link.cmake). protoc and grpc_cpp_plugin are the host's.
include_guard(GLOBAL)

set(_stage ${CMAKE_BINARY_DIR}/compile-check-include)
if(NOT RECLAIM_COMPILE_CHECK_HEADERS)
  message(FATAL_ERROR "RECLAIM_COMPILE_CHECK_HEADERS is empty: configure with "
    "-DCMAKE_TOOLCHAIN_FILE=.ci/mingw-w64-agent-check.cmake")
endif()
file(REMOVE_RECURSE ${_stage})
file(MAKE_DIRECTORY ${_stage})
# Entries by name; two directories of one name (openssl) are merged entry by entry.
set(_names)
foreach(_p ${RECLAIM_COMPILE_CHECK_HEADERS})
  if(NOT EXISTS ${_p})
    message(FATAL_ERROR "compile check: header path ${_p} is missing (deploy/install-deps.sh)")
  endif()
  get_filename_component(_n ${_p} NAME)
  list(APPEND _names ${_n})
  list(APPEND _src_${_n} ${_p})
endforeach()
list(REMOVE_DUPLICATES _names)
foreach(_n ${_names})
  list(LENGTH _src_${_n} _count)
  if(_count EQUAL 1)
    file(CREATE_LINK ${_src_${_n}} ${_stage}/${_n} SYMBOLIC)
  else()
    file(MAKE_DIRECTORY ${_stage}/${_n})
    foreach(_d ${_src_${_n}})
      file(GLOB _entries RELATIVE ${_d} ${_d}/*)
      foreach(_e ${_entries})
        file(CREATE_LINK ${_d}/${_e} ${_stage}/${_n}/${_e} SYMBOLIC)
      endforeach()
    endforeach()
  endif()
endforeach()

foreach(_h ${RECLAIM_COMPILE_CHECK_MSVC_MISSING_HEADERS})
  file(WRITE ${_stage}/${_h}
    "#error \"<${_h}> is POSIX: MSVC, which builds the Windows agent, has none (use a _windows twin)\"\n")
endforeach()

function(_reclaim_stub name)
  if(NOT TARGET ${name})
    add_library(${name} INTERFACE IMPORTED GLOBAL)
    set_target_properties(${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_stage}
      INTERFACE_COMPILE_DEFINITIONS "${ARGN}")
  endif()
endfunction()
function(_reclaim_tool name path)
  if(NOT EXISTS ${path})
    message(FATAL_ERROR "compile check: ${path} is missing (protobuf-compiler, protobuf-compiler-grpc)")
  endif()
  add_executable(${name} IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES IMPORTED_LOCATION ${path})
endfunction()

# Abseil: every component name of Abseil 20220623's CMake package.
foreach(_c
  algorithm algorithm_container any any_invocable atomic_hook bad_any_cast
  bad_any_cast_impl bad_optional_access bad_variant_access base base_internal
  bind_front bits btree city civil_time cleanup cleanup_internal compare
  compressed_tuple config container_common container_memory cord cord_internal
  cordz_functions cordz_handle cordz_info cordz_sample_token cordz_statistics
  cordz_update_scope cordz_update_tracker core_headers counting_allocator debugging
  debugging_internal demangle_internal dynamic_annotations endian errno_saver
  examine_stack exponential_biased failure_signal_handler fast_type_id fixed_array
  flags flags_commandlineflag flags_commandlineflag_internal flags_config
  flags_internal flags_marshalling flags_parse flags_path_util
  flags_private_handle_accessor flags_program_name flags_reflection flags_usage
  flags_usage_internal flat_hash_map flat_hash_set function_ref graphcycles_internal
  hash hash_function_defaults hash_policy_traits hashtable_debug hashtable_debug_hooks
  hashtablez_sampler inlined_vector inlined_vector_internal int128
  kernel_timeout_internal layout leak_check log_severity low_level_hash malloc_internal
  memory meta node_hash_map node_hash_set node_slot_policy numeric
  numeric_representation optional periodic_sampler prefetch pretty_function
  random_bit_gen_ref random_distributions random_internal_distribution_caller
  random_internal_distribution_test_util random_internal_fast_uniform_bits
  random_internal_fastmath random_internal_generate_real
  random_internal_iostream_state_saver random_internal_mock_helpers
  random_internal_nonsecure_base random_internal_pcg_engine random_internal_platform
  random_internal_pool_urbg random_internal_randen random_internal_randen_engine
  random_internal_randen_hwaes random_internal_randen_hwaes_impl
  random_internal_randen_slow random_internal_salted_seed_seq
  random_internal_seed_material random_internal_traits random_internal_uniform_helper
  random_internal_wide_multiply random_random random_seed_gen_exception
  random_seed_sequences raw_hash_map raw_hash_set raw_logging_internal sample_recorder
  scoped_set_env span spinlock_wait stacktrace status statusor str_format
  str_format_internal strerror strings strings_internal symbolize synchronization
  throw_delegate time time_zone type_traits utility variant
  )
  _reclaim_stub(absl::${_c})
endforeach()
_reclaim_stub(protobuf::libprotobuf)
_reclaim_stub(protobuf::libprotobuf-lite)
_reclaim_tool(protobuf::protoc ${RECLAIM_COMPILE_CHECK_PROTOC})
foreach(_t grpc grpc++ grpc_unsecure grpc++_unsecure grpc++_reflection gpr)
  _reclaim_stub(gRPC::${_t})
endforeach()
_reclaim_tool(gRPC::grpc_cpp_plugin ${RECLAIM_COMPILE_CHECK_GRPC_PLUGIN})
# spdlog header-only over fmt header-only (Debian's spdlog uses the external fmt).
_reclaim_stub(fmt::fmt FMT_HEADER_ONLY)
_reclaim_stub(fmt::fmt-header-only FMT_HEADER_ONLY)
_reclaim_stub(spdlog::spdlog SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY)
_reclaim_stub(spdlog::spdlog_header_only SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY)
_reclaim_stub(CLI11::CLI11)
_reclaim_stub(toml11::toml11)
_reclaim_stub(nlohmann_json::nlohmann_json)
_reclaim_stub(SQLite::SQLite3)
_reclaim_stub(unofficial::sqlite3::sqlite3)
_reclaim_stub(OpenSSL::Crypto)
_reclaim_stub(OpenSSL::SSL)
