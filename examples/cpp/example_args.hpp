#pragma once
// Command-line numbers for the example programs.
#include <cstdlib>
#include <stdexcept>
#include <string>

// argv[i] as a number >= 0, or `fallback` when there are fewer arguments.
inline double arg(int argc, char** argv, int i, double fallback) {
  if (argc <= i) return fallback;
  char* end = nullptr;
  const double v = std::strtod(argv[i], &end);
  if (end == argv[i] || *end != '\0' || v < 0) throw std::invalid_argument(std::string("not a number >= 0: ") + argv[i]);
  return v;
}
