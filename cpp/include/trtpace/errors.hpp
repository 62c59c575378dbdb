#pragma once
// The root of trtpace's exception tree. The bindings register each class with Python under the
// same name, TrtpaceError at the root, so Python code catches every trtpace failure with one class.
#include <stdexcept>

namespace trtpace {

class TrtpaceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Work could not be captured into a CUDA graph: the capture failed, not the work itself.
class CaptureError : public TrtpaceError {
 public:
  using TrtpaceError::TrtpaceError;
};

// A bounded wait ran out: the message names what was waited for and what to check.
class WaitTimeout : public TrtpaceError {
 public:
  using TrtpaceError::TrtpaceError;
};

}  // namespace trtpace
