#pragma once
// The paced runner's per-inference records and their one column table: each column's name, type,
// unit and meaning. The Records struct's members, the Python module's numpy dtype
// (_core.RECORD_DTYPE, the structured array Runner.records() returns) and trtpace's RECORD_COLUMNS
// all come from this list; a new column is one line here (results files written before it lack it).
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

// X(name, kind, unit, meaning). Times are on the host's monotonic clock. kind: i64 (whole numbers;
// 0 when unknown), f64 (NaN when unknown) or flag (0 or 1; bool in numpy).
#define TRTPACE_RECORD_COLUMNS(X)                                                                                     \
  X(due_ns, i64, "ns", "when the schedule wanted it issued")                                                          \
  X(issue_ns, i64, "ns", "the wait ended, submission starts")                                                         \
  X(submitted_ns, i64, "ns", "the submission call returned")                                                          \
  X(done_ns, i64, "ns", "the host observed completion")                                                               \
  X(device_us, f64, "us", "device execution (Workload::last_device_us)")                                              \
  X(gpu_start_ns, i64, "ns", "in-band probe start on the host clock; 0 when unknown (no probe, or no clock mapping)") \
  X(inband_mhz, f64, "MHz", "SM clock the probe measured; NaN when unknown")                                          \
  X(armed_ns, i64, "ns", "armed launch: when the inference was queued; 0 when not armed")                             \
  X(gate_ns, i64, "ns", "armed launch: the gate saw the release (mapped like gpu_start_ns); 0 when unknown")          \
  X(staged_ns, i64, "ns", "the input write ended (RunConfig::staging); 0 when there is none")                         \
  X(gap_work_ns, i64, "ns", "how long the gap's work ran before the issue; 0 when there is none")                     \
  X(relaunched, flag, "", "armed: the gate had timed out before the release, so the inference ran again")             \
  X(copy_in_us, f64, "us", "the input copy's part of device_us (Workload::last_copies_us); NaN when unknown")         \
  X(copy_out_us, f64, "us", "the output copy's part of device_us; NaN when unknown")

namespace trtpace {

enum class ColumnType : uint8_t { i64, f64, flag };
// A column type's C++ element and the value of a row not (yet) measured.
template <ColumnType>
struct ColumnTraits;
template <>
struct ColumnTraits<ColumnType::i64> {
  using type = int64_t;
  static constexpr type unknown = 0;
};
template <>
struct ColumnTraits<ColumnType::f64> {
  using type = double;
  static constexpr type unknown = std::numeric_limits<double>::quiet_NaN();
};
template <>
struct ColumnTraits<ColumnType::flag> {
  using type = uint8_t;
  static constexpr type unknown = 0;
};

struct RecordColumn {
  std::string_view name;
  ColumnType type;        // the column's kind
  std::string_view unit;  // "" for a flag
  std::string_view doc;
};

#define TRTPACE_RECORD_COLUMN_ENTRY(name, kind, unit, doc) RecordColumn{#name, ColumnType::kind, unit, doc},
inline constexpr std::array kRecordColumns{TRTPACE_RECORD_COLUMNS(TRTPACE_RECORD_COLUMN_ENTRY)};
#undef TRTPACE_RECORD_COLUMN_ENTRY

// Per-inference records in preallocated columns, one std::vector per entry of kRecordColumns, in
// its order; rows not measured hold their type's `unknown`.
struct Records {
  explicit Records(size_t capacity) {
#define TRTPACE_RECORD_FILL(name, kind, unit, doc) name.assign(capacity, ColumnTraits<ColumnType::kind>::unknown);
    TRTPACE_RECORD_COLUMNS(TRTPACE_RECORD_FILL)
#undef TRTPACE_RECORD_FILL
  }
#define TRTPACE_RECORD_MEMBER(name, kind, unit, doc) std::vector<ColumnTraits<ColumnType::kind>::type> name;
  TRTPACE_RECORD_COLUMNS(TRTPACE_RECORD_MEMBER)
#undef TRTPACE_RECORD_MEMBER

  // Calls f(column, values) for each column, in table order (values: its std::vector).
  template <typename F>
  void for_each_column(F&& f) const {
    size_t i = 0;
#define TRTPACE_RECORD_VISIT(name, kind, unit, doc) f(kRecordColumns[i++], name);
    TRTPACE_RECORD_COLUMNS(TRTPACE_RECORD_VISIT)
#undef TRTPACE_RECORD_VISIT
  }
};

}  // namespace trtpace
