// Small local stand-ins for upstream abseil's status macros, which Debian's
// abseil 20220623 lacks. Shaped like absl's RETURN_IF_ERROR / ASSIGN_OR_RETURN
// so they can be swapped for the real ones later.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RECLAIM_STATUS_CONCAT_INNER_(a, b) a##b
#define RECLAIM_STATUS_CONCAT_(a, b) RECLAIM_STATUS_CONCAT_INNER_(a, b)

/// Evaluates `expr` (an absl::Status); returns it from the calling function if
/// it is not OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::absl::Status reclaim_status_ = (expr);                    \
    if (!reclaim_status_.ok()) return reclaim_status_;          \
  } while (0)

/// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
/// otherwise moves the value into `lhs` (a declaration or an lvalue).
#define ASSIGN_OR_RETURN(lhs, rexpr)                                         \
  auto RECLAIM_STATUS_CONCAT_(reclaim_statusor_, __LINE__) = (rexpr);        \
  if (!RECLAIM_STATUS_CONCAT_(reclaim_statusor_, __LINE__).ok())             \
    return RECLAIM_STATUS_CONCAT_(reclaim_statusor_, __LINE__).status();     \
  lhs = std::move(RECLAIM_STATUS_CONCAT_(reclaim_statusor_, __LINE__)).value()
