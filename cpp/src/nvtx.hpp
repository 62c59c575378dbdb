#pragma once
// NVTX ranges of the paced loop, for Nsight Systems timelines. Private to the runner: the installed
// C++ API does not need the NVTX headers.
//
// NVTX3 is header-only: each call goes through a function pointer that is a no-op until a tool
// (nsys sets NVTX_INJECTION64_PATH) attaches on the first call; then the tool records it.
#include <nvtx3/nvToolsExt.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>

namespace trtpace::nvtx {

// ARGB colours on the timeline.
enum class Color : uint32_t {
  condition = 0xFF76B900,  // green: one condition (workload x pacing)
  inference = 0xFF1F77B4,  // blue: issue to done
  due = 0xFFB0B0B0,        // grey: waiting until the inference is due (the gap)
  arm = 0xFFFF7F0E,        // orange: an armed inference queued behind its gate
};

// The ranges one Runner::run opens on its thread, all in the "trtpace" domain (nsys
// --nvtx-domain-include=trtpace keeps only these). Push/pop nest per thread; whatever is still
// open when it is destroyed (an exception unwinding the loop) is popped, so the tool's stack
// stays balanced.
class Ranges {
 public:
  Ranges() : domain_(domain()) {}
  ~Ranges() { pop_to(0); }
  Ranges(const Ranges&) = delete;
  Ranges& operator=(const Ranges&) = delete;

  void push(const char* message, Color color) { push(message, color, nullptr); }
  // `index` becomes the range's payload, so nsys can show and filter it as a number too.
  void push(const char* message, Color color, uint64_t index) { push(message, color, &index); }
  void pop() {
    nvtxDomainRangePop(domain_);
    --open_;
  }
  // Closes the ranges opened after the first `depth` (those a failure left open).
  void pop_to(int depth) {
    while (open_ > depth) pop();
  }

 private:
  // One handle for the process (created on first use, thread-safely): a tool sees one domain.
  static nvtxDomainHandle_t domain() {
    static const nvtxDomainHandle_t handle = nvtxDomainCreateA("trtpace");
    return handle;
  }
  void push(const char* message, Color color, const uint64_t* index) {
    nvtxEventAttributes_t a{};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.colorType = NVTX_COLOR_ARGB;
    a.color = uint32_t(color);
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = message;
    if (index) {
      a.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
      a.payload.ullValue = *index;
    }
    nvtxDomainRangePushEx(domain_, &a);
    ++open_;
  }
  nvtxDomainHandle_t domain_;
  int open_ = 0;
};

// "inference 12", formatted in place without allocating (done during the gap, off the timed path).
class InferenceName {
 public:
  void set(size_t i) {
    auto [end, ec] = std::to_chars(buf_ + kPrefix, buf_ + sizeof(buf_) - 1, i);
    if (ec != std::errc()) end = buf_ + kPrefix;
    *end = '\0';
  }
  const char* c_str() const { return buf_; }

 private:
  static constexpr size_t kPrefix = 10;  // "inference "
  char buf_[32] = "inference ";
};

}  // namespace trtpace::nvtx
