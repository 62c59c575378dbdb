// Checked conversions: every double that is not finite or in range is refused before it is
// converted (the conversion itself would be undefined behaviour, which UBSan would report).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "trtpace/checked.hpp"

namespace trtpace {
namespace {

TEST(CheckedNs, ConvertsInRangeValues) {
  EXPECT_EQ(checked_ns(1.5, 1e3, "gap"), 1500);
  EXPECT_EQ(checked_ns(0.0, 1e9, "gap"), 0);
  EXPECT_EQ(checked_ns(10.0 * 365 * 24 * 3600, 1e9, "gap"), kMaxHorizonNs);
}

TEST(CheckedNs, RefusesWhatCannotBeConverted) {
  const double bad[] = {
      std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 1e300, -1.0,
      1e19};
  for (double v : bad) EXPECT_THROW(checked_ns(v, 1e9, "gap"), std::invalid_argument) << v;
}

TEST(CheckedNs, TheMessageNamesTheArgument) {
  try {
    checked_ns(-2.0, 1e9, "the warm-up gap");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the warm-up gap"), std::string::npos) << e.what();
  }
}

TEST(CheckNsRange, BoundsAreInclusive) {
  EXPECT_NO_THROW(check_ns_range(0, "x"));
  EXPECT_NO_THROW(check_ns_range(kMaxHorizonNs, "x"));
  EXPECT_THROW(check_ns_range(-1, "x"), std::invalid_argument);
  EXPECT_THROW(check_ns_range(kMaxHorizonNs + 1, "x"), std::invalid_argument);
  EXPECT_THROW(check_ns_range(5, "x", 10, 20), std::invalid_argument);
}

}  // namespace
}  // namespace trtpace
