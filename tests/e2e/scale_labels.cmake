# Included by ctest after the scale test's cases are discovered: labels them `e2e` and `scale`. A list
# cannot pass through gtest_discover_tests' PROPERTIES (it reaches the discovery script on a command
# line, split).
if(dpcni_e2e_scale_test_TESTS)
  set_tests_properties(${dpcni_e2e_scale_test_TESTS} PROPERTIES LABELS "e2e;scale")
endif()
