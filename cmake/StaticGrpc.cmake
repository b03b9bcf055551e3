# The plugin binary is copied onto every node's host, where gRPC, protobuf and abseil shared libraries
# are not installed. Debian's gRPC CMake targets point only at .so files, and its grpc++_unsecure.pc
# omits upb, address_sorting and cares, so we locate each static archive ourselves and link them in
# one linker group (the archives reference each other in cycles). grpc_unsecure's message
# compression needs zlib, which is not on the .pc files' static list either.
set(_dpcni_static_names
  grpc++_unsecure grpc_unsecure upb address_sorting cares z gpr protobuf
  absl_statusor absl_status absl_cord absl_cordz_info absl_cord_internal absl_cordz_functions
  absl_exponential_biased absl_cordz_handle absl_bad_optional_access absl_bad_variant_access
  absl_strerror absl_str_format_internal absl_synchronization absl_graphcycles_internal
  absl_stacktrace absl_symbolize absl_debugging_internal absl_demangle_internal
  absl_malloc_internal absl_time absl_civil_time absl_time_zone absl_strings
  absl_strings_internal absl_base absl_spinlock_wait absl_int128 absl_throw_delegate
  absl_raw_logging_internal absl_log_severity absl_raw_hash_set absl_hashtablez_sampler
  absl_hash absl_city absl_low_level_hash absl_random_distributions absl_random_seed_sequences
  absl_random_internal_pool_urbg absl_random_internal_randen absl_random_internal_randen_hwaes
  absl_random_internal_randen_hwaes_impl absl_random_internal_randen_slow
  absl_random_internal_platform absl_random_internal_seed_material absl_random_seed_gen_exception)

set(DPCNI_STATIC_GRPC_ARCHIVES "")
foreach(_name IN LISTS _dpcni_static_names)
  find_library(_dpcni_lib_${_name} NAMES lib${_name}.a REQUIRED)
  list(APPEND DPCNI_STATIC_GRPC_ARCHIVES ${_dpcni_lib_${_name}})
endforeach()

# Links `target` with the static gRPC stack, libstdc++ and libgcc, leaving only glibc dynamic.
function(dpcni_link_grpc_statically target)
  target_link_libraries(${target} PRIVATE
    -Wl,--start-group ${DPCNI_STATIC_GRPC_ARCHIVES} -Wl,--end-group
    Threads::Threads -lrt -latomic)
  target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc -Wl,--gc-sections)
endfunction()
