// flashmla — status returned by every public entry point.
//
// No public function throws, exits or aborts: every failure comes back as a Status whose message names
// the argument, the value expected and the value received.
#pragma once

#include <string>
#include <utility>

namespace flashmla {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // wrong shape, dtype, stride, value or pointer
  kNotSupported = 2,     // valid request this build or this device cannot run (e.g. not an sm_90 GPU)
  kCudaError = 3,        // a CUDA runtime/driver call failed
  kInternal = 4,         // a bug in flashmla; please report
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline const char* status_code_name(StatusCode c) {
  switch (c) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotSupported: return "not supported";
    case StatusCode::kCudaError: return "CUDA error";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown";
}

}  // namespace flashmla
