// Early-return helpers for absl::Status / absl::StatusOr (the abseil release we build against
// does not ship them).
#pragma once

#include <utility>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#define DPCNI_CNI_CONCAT_INNER(a, b) a##b
#define DPCNI_CNI_CONCAT(a, b) DPCNI_CNI_CONCAT_INNER(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                           \
  do {                                                  \
    if (absl::Status status_ = (expr); !status_.ok()) { \
      return status_;                                   \
    }                                                   \
  } while (false)

// `lhs = value of expr`, or returns its status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(DPCNI_CNI_CONCAT(status_or_, __LINE__), lhs, expr)
// `status_or` is a name and `lhs` may be a declaration ("auto x"): neither can be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define ASSIGN_OR_RETURN_IMPL(status_or, lhs, expr) \
  auto status_or = (expr);                          \
  if (!status_or.ok()) {                            \
    return status_or.status();                      \
  }                                                 \
  lhs = *std::move(status_or)
// NOLINTEND(bugprone-macro-parentheses)
