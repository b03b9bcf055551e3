// One EAL for a fuzz target's process, for the targets whose code needs DPDK's memory (mempools,
// LPM, hash tables): no hugepages, no PCI, no shared files, the main lcore only (on either CPU),
// as the engine tests run it (tests/dataplane/testing/test_eal.cc).
#pragma once

namespace dpcni::fuzz {

// Starts EAL or exits the process with a failure. The file prefix is DPCNI_FUZZ_EAL_PREFIX from
// the environment (run_fuzz.sh sets one per run, to remove EAL's runtime directory even after a
// crash), else "dpcni-fuzz-<pid>"; a normal exit removes the runtime directory itself.
void StartEal(int argc, char** argv);

}  // namespace dpcni::fuzz
