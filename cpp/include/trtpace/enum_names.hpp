#pragma once
// One name table per enum, read both ways: parsing (the Python API takes strings) and printing.
#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trtpace {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// "a, b or c": the valid names, for one-line error messages.
template <typename E, size_t N>
std::string enum_choices(const std::array<EnumName<E>, N>& table) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i) out += i + 1 == N ? " or " : ", ";
    out += table[i].name;
  }
  return out;
}

// Throws std::invalid_argument "unknown <what> '<name>' (expected a, b or c)".
template <typename E, size_t N>
E parse_enum(const std::array<EnumName<E>, N>& table, std::string_view name, const char* what) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  throw std::invalid_argument("unknown " + std::string(what) + " '" + std::string(name) + "' (expected " +
                              enum_choices(table) + ")");
}

template <typename E, size_t N>
const char* enum_to_string(const std::array<EnumName<E>, N>& table, E value) noexcept {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

}  // namespace trtpace
