// flashmla — status returned by every public entry point.
//
// No public function throws, exits or aborts: every failure comes back as a Status whose message names
// the argument, the value expected and the value received ("<argument>: expected <what>, got <actual>"),
// and whose kind says which property of the argument was wrong, so that bindings can map failures to
// their own exception types without parsing the message.
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

// Which property of an argument a failure is about (kNone for successes and non-argument failures).
enum class ErrorKind : int {
  kNone = 0,
  kType = 1,       // dtype of a tensor (Python: TypeError)
  kDevice = 2,     // device type or index
  kShape = 3,      // rank or sizes
  kStride = 4,     // strides, contiguity, self-overlap
  kPointer = 5,    // null or misaligned pointer
  kAlias = 6,      // outputs overlapping inputs, each other, or the workspace
  kValue = 7,      // a scalar or a tensor element (lengths, page ids, scales)
  kWorkspace = 8,  // workspace missing, too small or misaligned
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, ErrorKind kind = ErrorKind::kNone)
      : code_(code), kind_(kind), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  ErrorKind kind_ = ErrorKind::kNone;
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
