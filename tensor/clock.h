// tensor/clock.h — how every layer times itself: the monotonic clock, intervals in seconds as double.
#pragma once

#include <chrono>

namespace tl {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace tl
