#include "agent/meter/meter.h"

#include <algorithm>
#include <utility>

namespace reclaim::agent {

Meter::Meter(MeterOptions options) : options_(std::move(options)) {}

void Meter::Record(const MeterEvent& event) {
  MeterEvent e = event;
  if (e.at < settled_) {
    // Time already settled is never rewritten: apply at the settled point.
    e.at = settled_;
    ++late_events_;
  }
  // multimap::insert places an equal key after the existing ones: arrival order.
  pending_.insert({e.at, std::move(e)});
}

std::vector<FocusInterval> Meter::Poll(MonoTime now, UtcMs wall_now) {
  std::vector<FocusInterval> out;
  const MonoTime through = std::max(settled_, now - options_.settle_delay);
  Settle(through, now, wall_now, &out);
  if (Active() && settled_ > PieceStart() && settled_ - PieceStart() >= options_.heartbeat) {
    EmitPiece(settled_, now, wall_now, &out);
  }
  return out;
}

std::vector<FocusInterval> Meter::Finish(MonoTime now, UtcMs wall_now) {
  std::vector<FocusInterval> out;
  Settle(std::max(settled_, now), now, wall_now, &out);
  if (Active()) EmitPiece(settled_, now, wall_now, &out);
  return out;
}

void Meter::StartAt(MonoTime t) { floor_ = t; }

MonoTime Meter::emitted_through() const {
  return Active() ? PieceStart() : std::max(settled_, floor_);
}

void Meter::Settle(MonoTime through, MonoTime now, UtcMs wall_now,
                   std::vector<FocusInterval>* out) {
  while (!pending_.empty() && pending_.begin()->first <= through) {
    auto node = pending_.extract(pending_.begin());
    // Late events were clamped on Record, so node.key() >= settled_.
    settled_ = std::max(settled_, node.key());
    Apply(node.mapped(), now, wall_now, out);
  }
  settled_ = std::max(settled_, through);
}

void Meter::Apply(const MeterEvent& e, MonoTime now, UtcMs wall_now,
                  std::vector<FocusInterval>* out) {
  const bool was_active = Active();
  const bool app_changed = e.kind == MeterEvent::Kind::kFocus && focus_ != e.app;
  bool idle = idle_, locked = locked_, suspended = suspended_;
  switch (e.kind) {
    case MeterEvent::Kind::kFocus:
      break;
    case MeterEvent::Kind::kIdle:
      idle = true;
      break;
    case MeterEvent::Kind::kActive:
      idle = false;
      break;
    case MeterEvent::Kind::kLock:
      locked = true;
      break;
    case MeterEvent::Kind::kUnlock:
      locked = false;
      break;
    case MeterEvent::Kind::kSuspend:
      suspended = true;
      break;
    case MeterEvent::Kind::kResume:
      suspended = false;
      break;
  }
  const bool will_be_active =
      (app_changed ? e.app.has_value() : focus_.has_value()) && !idle && !locked && !suspended;
  // The running span ends when the state stops being active or the app changes;
  // emit its last piece while focus_ still names its app.
  if (was_active && (!will_be_active || app_changed)) EmitPiece(settled_, now, wall_now, out);
  if (app_changed) focus_ = e.app;
  idle_ = idle;
  locked_ = locked;
  suspended_ = suspended;
  if (will_be_active && (!was_active || app_changed)) {
    // A new span (new session or new app) starts here.
    piece_start_ = settled_;
    piece_is_continuation_ = false;
  }
}

bool Meter::Active() const { return focus_.has_value() && !idle_ && !locked_ && !suspended_; }

MonoTime Meter::PieceStart() const { return std::max(piece_start_, floor_); }

void Meter::EmitPiece(MonoTime end, MonoTime now, UtcMs wall_now, std::vector<FocusInterval>* out) {
  const MonoTime start = PieceStart();
  if (end > start) {
    FocusInterval piece;
    piece.app = *focus_;
    piece.start_utc_ms = wall_now - (now - start).count();
    piece.active_duration_ms = (end - start).count();
    piece.continuation = piece_is_continuation_ || start > piece_start_;
    out->push_back(std::move(piece));
  }
  piece_start_ = end;
  piece_is_continuation_ = true;
}

}  // namespace reclaim::agent
