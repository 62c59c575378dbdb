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

// An argument is malformed or out of range. Every std::invalid_argument the core throws means the
// same (the checks in checked.hpp, schedule.hpp, the constructors), so the bindings raise both as
// Python's trtpace.UsageError (a TrtpaceError and a ValueError): one line and exit 2 on the
// command line. Not a TrtpaceError in C++: it is an std::invalid_argument, as callers expect.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A bounded wait ran out: the message names what was waited for and what to check.
class WaitTimeout : public TrtpaceError {
 public:
  using TrtpaceError::TrtpaceError;
};

}  // namespace trtpace
