# DPDK for the agent, its tests and benchmarks: PkgConfig::DPDK.
#
# Our own build by default (tools/build-dpdk.sh, docs/dpdk-build.md), made at configure time into
# ${DPCNI_DPDK_PREFIX}, inside the build tree where EAL allows: Debian's DPDK allows 32 ethdevs per process, one per
# pod, and a node must hold hundreds of pods. DPCNI_SYSTEM_DPDK=ON takes Debian's libdpdk-dev instead,
# for a quick local build that needs few pods.
option(DPCNI_SYSTEM_DPDK "Use Debian's DPDK (at most 31 pods per node) instead of building our own" OFF)

# The first existing directory on `path` (itself or an ancestor) that anyone may write to, or "".
# EAL's driver loader checks the same (eal_common_options.c, verify_perms) and fails start-up.
function(dpcni_world_writable_ancestor path result)
  set(${result} "" PARENT_SCOPE)
  while(NOT path STREQUAL "/")
    if(IS_DIRECTORY ${path})
      execute_process(COMMAND find ${path} -maxdepth 0 -perm -o+w
        OUTPUT_VARIABLE _writable OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(_writable)
        set(${result} ${path} PARENT_SCOPE)
        return()
      endif()
    endif()
    get_filename_component(path ${path} DIRECTORY)
  endwhile()
endfunction()

if(DPCNI_SYSTEM_DPDK)
  set(_dpcni_dpdk_build "system")
  set(DPCNI_DPDK_TESTPMD /usr/bin/dpdk-testpmd)
else()
  # Absolute, as it is compiled into the build; build trees may share one (the script's stamp and
  # lock see to that). Inside the build tree where EAL accepts it: EAL loads its drivers only from a
  # directory none of whose ancestors is world-writable, so a build tree under /tmp gets its DPDK in
  # a cache directory of the machine instead.
  dpcni_world_writable_ancestor(${CMAKE_BINARY_DIR} _dpcni_open_ancestor)
  if(_dpcni_open_ancestor)
    set(_dpcni_default_prefix /var/cache/dpcni/dpdk)
    message(STATUS "DPDK: ${_dpcni_open_ancestor} is world-writable, so EAL would refuse drivers "
      "under ${CMAKE_BINARY_DIR}; our DPDK goes to ${_dpcni_default_prefix}")
  else()
    set(_dpcni_default_prefix ${CMAKE_BINARY_DIR}/dpdk)
  endif()
  set(DPCNI_DPDK_PREFIX ${_dpcni_default_prefix} CACHE PATH "Where tools/build-dpdk.sh installs our DPDK")
  dpcni_world_writable_ancestor(${DPCNI_DPDK_PREFIX} _dpcni_open_ancestor)
  if(_dpcni_open_ancestor)
    message(FATAL_ERROR "DPCNI_DPDK_PREFIX=${DPCNI_DPDK_PREFIX} lies under the world-writable "
      "${_dpcni_open_ancestor}: EAL refuses to load drivers from there")
  endif()
  set(DPCNI_DPDK_TESTPMD ${DPCNI_DPDK_PREFIX}/bin/dpdk-testpmd)
  set(_dpcni_dpdk_script ${PROJECT_SOURCE_DIR}/tools/build-dpdk.sh)
  set(_dpcni_dpdk_log ${CMAKE_BINARY_DIR}/dpdk-build.log)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_dpcni_dpdk_script})
  # The script's patches are inputs of the build too (its stamp hashes them).
  file(GLOB _dpcni_dpdk_patches CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/dpdk-patches/*.patch)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_dpcni_dpdk_patches})

  message(STATUS "DPDK: tools/build-dpdk.sh ${DPCNI_DPDK_PREFIX} (log: ${_dpcni_dpdk_log})")
  execute_process(COMMAND ${_dpcni_dpdk_script} ${DPCNI_DPDK_PREFIX}
    OUTPUT_FILE ${_dpcni_dpdk_log} ERROR_FILE ${_dpcni_dpdk_log}
    RESULT_VARIABLE _dpcni_dpdk_result)
  file(STRINGS ${_dpcni_dpdk_log} _dpcni_dpdk_log_lines)
  if(NOT _dpcni_dpdk_result EQUAL 0)
    list(LENGTH _dpcni_dpdk_log_lines _dpcni_dpdk_log_length)
    math(EXPR _dpcni_dpdk_tail_start "${_dpcni_dpdk_log_length} - 60")
    if(_dpcni_dpdk_tail_start LESS 0)
      set(_dpcni_dpdk_tail_start 0)
    endif()
    list(SUBLIST _dpcni_dpdk_log_lines ${_dpcni_dpdk_tail_start} -1 _dpcni_dpdk_tail)
    list(JOIN _dpcni_dpdk_tail "\n" _dpcni_dpdk_tail)
    message(FATAL_ERROR "tools/build-dpdk.sh failed (${_dpcni_dpdk_result}); the end of "
      "${_dpcni_dpdk_log}:\n${_dpcni_dpdk_tail}")
  endif()
  list(GET _dpcni_dpdk_log_lines -1 _dpcni_dpdk_outcome)
  message(STATUS "DPDK: ${_dpcni_dpdk_outcome}")

  file(STRINGS ${DPCNI_DPDK_PREFIX}/.dpcni-build-stamp _dpcni_dpdk_build)
  set(ENV{PKG_CONFIG_PATH} "${DPCNI_DPDK_PREFIX}/lib/pkgconfig:$ENV{PKG_CONFIG_PATH}")
endif()

# pkg_check_modules keeps its answer and the library paths it found in the cache; after a switch
# between Debian's DPDK and ours, or a rebuild of ours, it must ask again.
if(NOT "${_dpcni_dpdk_build}" STREQUAL "${DPCNI_DPDK_FOUND_FOR}")
  unset(__pkg_config_checked_DPDK CACHE)
  get_cmake_property(_dpcni_cache_variables CACHE_VARIABLES)
  list(FILTER _dpcni_cache_variables INCLUDE REGEX "^pkgcfg_lib_DPDK_")
  foreach(_dpcni_variable IN LISTS _dpcni_cache_variables)
    unset(${_dpcni_variable} CACHE)
  endforeach()
endif()
pkg_check_modules(DPDK REQUIRED IMPORTED_TARGET libdpdk)
set(DPCNI_DPDK_FOUND_FOR "${_dpcni_dpdk_build}" CACHE INTERNAL "The DPDK build PkgConfig::DPDK was found for")

if(NOT DPCNI_SYSTEM_DPDK)
  # Binaries must load our libraries, never Debian's of the same soname: a run path into the prefix
  # (our libraries carry one too, for what they load in turn, and EAL loads its drivers from the
  # prefix's driver directory, compiled into it). The link directory is for targets that name a
  # driver library directly (rte_net_ring for rte_eth_from_rings).
  set_property(TARGET PkgConfig::DPDK APPEND PROPERTY
    INTERFACE_LINK_OPTIONS "-Wl,-rpath,${DPCNI_DPDK_PREFIX}/lib")
  set_property(TARGET PkgConfig::DPDK APPEND PROPERTY
    INTERFACE_LINK_DIRECTORIES ${DPCNI_DPDK_PREFIX}/lib)
endif()

# Every ethdev the agent opens (one per pod, plus uplinks) counts against RTE_MAX_ETHPORTS, as
# compiled into the headers every target here includes.
find_file(_dpcni_dpdk_build_config rte_build_config.h PATHS ${DPDK_INCLUDE_DIRS} NO_DEFAULT_PATH
  NO_CACHE REQUIRED)
file(STRINGS ${_dpcni_dpdk_build_config} _dpcni_dpdk_max_ethports
  REGEX "^#define RTE_MAX_ETHPORTS [0-9]+$")
string(REGEX REPLACE ".* " "" DPCNI_DPDK_MAX_ETHPORTS "${_dpcni_dpdk_max_ethports}")
if(DPCNI_SYSTEM_DPDK)
  message(WARNING "Debian's DPDK (DPCNI_SYSTEM_DPDK=ON) allows ${DPCNI_DPDK_MAX_ETHPORTS} ethdevs "
    "per process: a node holds fewer pods than that.")
elseif(NOT DPCNI_DPDK_MAX_ETHPORTS EQUAL 1024)
  message(FATAL_ERROR "${_dpcni_dpdk_build_config} sets RTE_MAX_ETHPORTS to "
    "'${DPCNI_DPDK_MAX_ETHPORTS}', not 1024: these are not the headers of our DPDK build")
endif()
