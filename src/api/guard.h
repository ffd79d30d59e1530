// Runs an entry point's body so that no exception crosses the public API (every entry point is
// noexcept and returns a Status).
#pragma once

#include <exception>
#include <string>

#include "flashmla/status.h"

namespace flashmla::detail {

inline Status internal_error(const char* where, const char* what) noexcept {
  try {
    return Status(StatusCode::kInternal, std::string(where) + ": unexpected C++ exception" +
                                             (what ? std::string(" (") + what + ")" : std::string()) +
                                             "; please report");
  } catch (...) {
    return Status(StatusCode::kInternal, "");  // std::string itself failed: return without a message
  }
}

template <class Body>
Status guarded(const char* where, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_error(where, e.what());
  } catch (...) {
    return internal_error(where, nullptr);
  }
}

}  // namespace flashmla::detail
