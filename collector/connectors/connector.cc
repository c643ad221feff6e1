#include "collector/connectors/connector.h"

namespace reclaim::collector {

const char* ChangeOutcomeName(ChangeOutcome outcome) {
  switch (outcome) {
    case ChangeOutcome::kRemoved:
      return "removed";
    case ChangeOutcome::kAlreadyRemoved:
      return "already_removed";
    case ChangeOutcome::kAdded:
      return "added";
    case ChangeOutcome::kAlreadyMember:
      return "already_member";
    case ChangeOutcome::kNeedsManualAction:
      return "needs_manual_action";
    case ChangeOutcome::kStillLicensedThrough:
      return "still_licensed_through";
  }
  return "unknown";
}

}  // namespace reclaim::collector
