# DPCNI_SANITIZE=ON: a build tree of its own (tools/test.sh uses build-asan) in which our code is
# compiled with AddressSanitizer and UndefinedBehaviorSanitizer, every report fatal, plus the
# libFuzzer targets of tests/fuzz/. It holds what the `unit`, `dpdk` and `fuzz` labels need and
# nothing else: no static plugin, no benchmarks, no root, e2e, VM or cluster lanes (docs/testing.md).
#
# Clang, for libFuzzer (CC=clang-14 CXX=clang++-14); GCC's sanitizers would do for the tests, but one
# extra build is cheaper than two.
#
# DPDK under ASan. DPDK itself is not rebuilt (the tree uses DPCNI_DPDK_PREFIX, the normal tree's
# build): its libraries are uninstrumented code to ASan. What that means here:
# - EAL's memory (--no-huge: anonymous mmaps; mempools, rte_malloc, LPM and hash tables live there)
#   is not ASan's heap: no redzones, so an overrun inside an mbuf's data room goes unseen. The
#   packet fuzz target therefore puts each frame in a heap buffer of exactly its size, attached to
#   the mbuf as an external buffer (tests/fuzz/engine/decide_packet_fuzz.cc).
# - ASan's shadow (fixed ranges it maps at start) and EAL's virtual-area reservation (at a base
#   address EAL only hints to mmap) did not collide: EAL starts unchanged in every test binary and
#   fuzz target, with the tests' own arguments (--no-huge -m ...), no --base-virtaddr and no
#   ASAN_OPTIONS for it (checked 2026-12-01 on DPDK 22.11 and clang 14).
# - Code inlined from DPDK's headers (rte_mbuf.h, rte_hash_crc.h, rte_ip.h) is compiled into ours and
#   IS checked: UBSan found a misaligned 64-bit read in rte_hash_crc of a 4-aligned key
#   (dataplane/engine/flow_table.h aligns the key now).
# - LeakSanitizer sees EAL's malloc'd bookkeeping at exit; rte_eal_cleanup frees what matters and
#   no leak of DPDK's was reported, so tests/sanitize/lsan.supp holds no entry yet.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "DPCNI_SANITIZE=ON needs clang for libFuzzer: configure with "
    "CC=clang-14 CXX=clang++-14 (tools/install-deps.sh installs them)")
endif()

# -O1 keeps the sanitizers' reports close to the source and the build short; line tables are
# enough for symbolized stacks. Asserts stay on (no NDEBUG).
set(CMAKE_C_FLAGS_SANITIZE "-O1 -gline-tables-only" CACHE STRING "" FORCE)
set(CMAKE_CXX_FLAGS_SANITIZE "-O1 -gline-tables-only" CACHE STRING "" FORCE)

# fuzzer-no-link: libFuzzer's coverage instrumentation for our code, so that the fuzz targets
# explore the libraries they link; the targets themselves link -fsanitize=fuzzer (tests/fuzz/).
add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
  -fno-omit-frame-pointer -fsanitize=fuzzer-no-link)
add_link_options(-fsanitize=address,undefined)

# The sanitizers' run-time options are compiled into every executable of the tree (an object
# built here, at configure time, and put on every link line), so a test, a fuzz target or a binary
# run by hand behaves the same as under ctest: every report fatal, stacks symbolized by the
# llvm-symbolizer of this clang, and the leaks tests/sanitize/lsan.supp names suppressed (only
# DPDK's, each with its reason). ASAN_OPTIONS and friends in the environment still add to them.
get_filename_component(_dpcni_clang_dir ${CMAKE_CXX_COMPILER} REALPATH)
get_filename_component(_dpcni_clang_dir ${_dpcni_clang_dir} DIRECTORY)
find_program(DPCNI_LLVM_SYMBOLIZER NAMES llvm-symbolizer HINTS ${_dpcni_clang_dir} NO_DEFAULT_PATH
  REQUIRED)
set(_dpcni_options_source ${PROJECT_SOURCE_DIR}/tests/sanitize/sanitizer_options.c)
set(_dpcni_options_object ${CMAKE_BINARY_DIR}/sanitizer_options.o)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_dpcni_options_source})
execute_process(
  COMMAND ${CMAKE_C_COMPILER} -c -O1 -fPIC
    -DDPCNI_LSAN_SUPPRESSIONS="${PROJECT_SOURCE_DIR}/tests/sanitize/lsan.supp"
    -DDPCNI_LLVM_SYMBOLIZER="${DPCNI_LLVM_SYMBOLIZER}"
    ${_dpcni_options_source} -o ${_dpcni_options_object}
  RESULT_VARIABLE _dpcni_options_result)
if(NOT _dpcni_options_result EQUAL 0)
  message(FATAL_ERROR "compiling ${_dpcni_options_source} failed")
endif()
add_link_options(${_dpcni_options_object})
