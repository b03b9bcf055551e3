// The sanitizers' default options for every executable of a DPCNI_SANITIZE=ON tree
// (cmake/Sanitize.cmake compiles this file and links it into each). The runtimes call these weak
// hooks before reading ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS, which still override them.

// Reports are fatal (the build also has -fno-sanitize-recover=all), and leaks are checked at exit.
// strict_string_checks: a string function reading past a missing terminator is reported even when
// the buffer happens to be large enough.
const char* __asan_default_options(void) {
  return "detect_leaks=1:strict_string_checks=1:check_initialization_order=1:"
         "external_symbolizer_path=" DPCNI_LLVM_SYMBOLIZER;
}

const char* __ubsan_default_options(void) {
  return "print_stacktrace=1:halt_on_error=1:external_symbolizer_path=" DPCNI_LLVM_SYMBOLIZER;
}

const char* __lsan_default_options(void) {
  return "suppressions=" DPCNI_LSAN_SUPPRESSIONS ":print_suppressions=0";
}
