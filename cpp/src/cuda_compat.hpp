#pragma once
// Graph calls whose CUDA 13 form (with edge data) is the _v2 call of CUDA 12.3+ (private; the
// build needs CUDA 12.4+ or 13.x: CMakeLists.txt). Callers reach them only where the feature
// table (features.hpp) says the driver has them.
#include <cuda_runtime_api.h>

#if CUDART_VERSION >= 13000
#define TRTPACE_GRAPH_V2(fn) fn
#else
#define TRTPACE_GRAPH_V2(fn) fn##_v2
#endif
