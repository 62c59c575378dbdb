// Where the armed launch's last microseconds go: variants of the gate measured side by side.
//
// A standalone experiment (no trtpace library), so each mechanism can be changed in isolation:
// a 12-kernel ~30 us body (every SM spinning 2.5 us per kernel) with trtpace's device timing
// around it (a start event, an end event, a probe kernel that writes host-mapped memory), built
// two ways:
//   serial    start event -> child graph(body) -> end event, probe after the start event: the
//             wrapper trtpace puts around a user graph today;
//   par       the body's kernels flat in the graph, the start event and the probe beside its
//             first kernel instead of in front of it.
// and started after a gap by
//   plain     cudaGraphLaunch at the due time (`cont`: the same back to back, the baseline)
//   kernel    a one-thread gate kernel polling a host-mapped flag, released by one host store; as
//             the graph's first node (serial), or (par pdl) with programmatic edges to the body's
//             first kernel, so that kernel launches when the gate triggers instead of when it has
//             exited; `trtgate` is trtpace's own gate (timeout check, 32 ns sleep, stamps to host
//             memory), `probepdl` also hangs the probe on the gate by a programmatic edge;
//   wait      cuStreamWaitValue32 on the flag, then the plain graph.
// `hot` keeps the host thread spinning through the gap; `fat` bodies use trtpace's synthetic
// shape (4 blocks of 256 threads per SM), and `fat: trtpace's armed graph` is what
// CudaWorkload::timed_graph builds for armed:kernel.
// Rounds are interleaved; e2e is host release (or launch call) -> cudaStreamQuery success, and
// GPU-side splits come from %globaltimer stamps in device memory (one clock, no mapping). Every
// graph ends with a `done` kernel that writes the inference's number to host-mapped memory; the
// host spins on that word before it queries the stream, which splits "GPU done -> host knows"
// into the word arriving (`flag`) and cudaStreamQuery agreeing afterwards (`query-flag`).
//
//   nvcc -O2 -std=c++17 -arch=native -o /tmp/gate_anatomy bench/gate_anatomy.cu
//   /tmp/gate_anatomy [gap_ms=50] [rounds=3] [per_round=60] > gate-anatomy.txt
#include <cuda.h>
#include <cuda_runtime.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CK(x)                                                                                 \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

__device__ __forceinline__ uint64_t gt() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

struct Flag {  // host-mapped
  uint32_t armed, release, seen;
  uint32_t pad;
  uint64_t seen_gt;
  uint32_t expect, done;  // the inference's number, written by the host before it is issued; its echo
};
struct Stamps {  // device memory: read back after each inference, off the timed path
  uint64_t gate_seen, body_start, body_end, probe, done;
  uint32_t seen;
};

// One of the body's kernels: every SM busy for `ns`; the first and last stamp start and end.
__global__ void work_kernel(uint64_t ns, Stamps* s, int role) {
  const uint64_t t0 = gt();
  if (role == 0 && blockIdx.x == 0 && threadIdx.x == 0) s->body_start = t0;
  while (gt() - t0 < ns) {
  }
  if (role == 2 && blockIdx.x == 0 && threadIdx.x == 0) s->body_end = gt();
}

// trtpace's in-band probe writes host-mapped memory; so does this one.
__global__ void probe_kernel(Flag* f, Stamps* s) {
  const uint64_t t = gt();
  s->probe = t;
  reinterpret_cast<volatile Flag*>(f)->pad = uint32_t(t);
}

// The graph's last node: tells the host the inference is done through host-mapped memory.
__global__ void done_kernel(Flag* f, Stamps* s) {
  volatile Flag* v = f;
  s->done = gt();
  __threadfence_system();
  v->done = v->expect;
}

// trtpace's gate as cpp/src/armed.cu has it: a timeout check and a short sleep in the poll, its
// stamps written to the host-mapped words after the trigger.
__global__ void gate_kernel_trtpace(Flag* f, uint64_t timeout_ns) {
  volatile Flag* v = f;
  const uint32_t seq = v->armed;
  const uint64_t start = gt();
  while (int32_t(v->release - seq) < 0) {
    if (timeout_ns && gt() - start > timeout_ns) break;
    __nanosleep(32);
  }
  const uint64_t seen = gt();
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
  v->seen_gt = seen;
  v->seen = seq;
}

__global__ void gate_kernel(Flag* f, Stamps* s) {
  volatile Flag* v = f;
  const uint32_t seq = v->armed;
  while (int32_t(v->release - seq) < 0) {
  }
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");  // PDL: dependents may start now
  s->gate_seen = gt();
  s->seen = seq;
}

static int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

static void wait_until(int64_t t) {  // sleep, then spin the last 200 us (trtpace's hybrid wait)
  const int64_t spin = 200000;
  int64_t left = t - now_ns();
  if (left > spin) {
    timespec ts{};
    const int64_t s = left - spin;
    ts.tv_sec = s / 1000000000;
    ts.tv_nsec = s % 1000000000;
    nanosleep(&ts, nullptr);
  }
  while (now_ns() < t) {
  }
}

struct Variant {
  std::string name;
  enum Gate { none, kernel, wait } gate;
  bool gap;
  bool par = false;        // events and probe beside the body's first kernel, body flat
  bool pdl = false;        // kernel gate -> first body kernel as a programmatic edge
  bool hot = false;        // host spins through the gap
  bool fat = false;        // body kernels of 4 blocks/SM x 256 threads (trtpace's synthetic shape)
  bool trt_gate = false;   // gate_kernel_trtpace
  bool probe_pdl = false;  // the probe also on a programmatic edge from the gate (as trtpace)
  cudaGraphExec_t exec = nullptr;
  std::vector<double> e2e, gate_to_start, device, end_to_done_est, flag, query_after_flag, end_to_donek;
};

using WaitValue32 = CUresult (*)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);

int main(int argc, char** argv) {
  const double gap_ms = argc > 1 ? std::atof(argv[1]) : 50.0;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const int per_round = argc > 3 ? std::atoi(argv[3]) : 60;
  CK(cudaSetDevice(0));
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Flag* flag_h = nullptr;
  Flag* flag_d = nullptr;
  CK(cudaHostAlloc(&flag_h, sizeof(Flag), cudaHostAllocMapped));
  CK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&flag_d), flag_h, 0));
  *flag_h = Flag{};
  Stamps* st_d = nullptr;
  CK(cudaMalloc(&st_d, sizeof(Stamps)));
  cudaEvent_t ev0, ev1;
  CK(cudaEventCreate(&ev0));
  CK(cudaEventCreate(&ev1));
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult q{};
  CK(cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &fn, 12000, cudaEnableDefault, &q));
  auto wait_value = reinterpret_cast<WaitValue32>(fn);

  uint64_t spin_ns = 2500;
  const unsigned blocks = unsigned(prop.multiProcessorCount);
  int roles[12];
  for (int k = 0; k < 12; ++k) roles[k] = k == 0 ? 0 : k == 11 ? 2 : 1;
  auto kernel_node = [&](cudaGraph_t g, const cudaGraphNode_t* deps, size_t n, void* func, void** args, unsigned grid,
                         unsigned block) {
    cudaKernelNodeParams p{};
    p.func = func;
    p.gridDim = dim3(grid);
    p.blockDim = dim3(block);
    p.kernelParams = args;
    cudaGraphNode_t node;
    CK(cudaGraphAddKernelNode(&node, g, deps, n, &p));
    return node;
  };
  // The body's 12 kernels in `g`, the first depending on `deps`; returns {first, last}.
  auto add_body = [&](cudaGraph_t g, const cudaGraphNode_t* deps, size_t n, bool fat) {
    cudaGraphNode_t first = nullptr, prev = nullptr;
    for (int k = 0; k < 12; ++k) {
      void* args[] = {&spin_ns, &st_d, &roles[k]};
      cudaGraphNode_t node = kernel_node(g, k ? &prev : deps, k ? 1 : n, reinterpret_cast<void*>(work_kernel), args,
                                         fat ? 4 * blocks : blocks, fat ? 256 : 128);
      if (!k) first = node;
      prev = node;
    }
    return std::pair<cudaGraphNode_t, cudaGraphNode_t>(first, prev);
  };
  cudaGraph_t body, fat_body;
  CK(cudaGraphCreate(&body, 0));
  add_body(body, nullptr, 0, false);
  CK(cudaGraphCreate(&fat_body, 0));
  add_body(fat_body, nullptr, 0, true);
  uint64_t no_timeout = 0;

  auto build = [&](const Variant& v) {
    cudaGraph_t g;
    CK(cudaGraphCreate(&g, 0));
    cudaGraphNode_t gate = nullptr;
    if (v.gate == Variant::kernel && v.trt_gate) {
      void* args[] = {&flag_d, &no_timeout};
      gate = kernel_node(g, nullptr, 0, reinterpret_cast<void*>(gate_kernel_trtpace), args, 1, 1);
    } else if (v.gate == Variant::kernel) {
      void* args[] = {&flag_d, &st_d};
      gate = kernel_node(g, nullptr, 0, reinterpret_cast<void*>(gate_kernel), args, 1, 1);
    }
    const size_t nroot = gate ? 1 : 0;
    cudaGraphNode_t start, last, pnode, join;
    void* pargs[] = {&flag_d, &st_d};
    if (!v.par) {
      CK(cudaGraphAddEventRecordNode(&start, g, &gate, nroot, ev0));
      cudaGraphNode_t child;
      CK(cudaGraphAddChildGraphNode(&child, g, &start, 1, v.fat ? fat_body : body));
      CK(cudaGraphAddEventRecordNode(&last, g, &child, 1, ev1));
      pnode = kernel_node(g, &start, 1, reinterpret_cast<void*>(probe_kernel), pargs, 1, 1);
    } else {
      CK(cudaGraphAddEventRecordNode(&start, g, &gate, nroot, ev0));
      auto [first, end] = add_body(g, v.pdl ? nullptr : &gate, v.pdl ? 0 : nroot, v.fat);
      if (v.pdl) {
        cudaGraphEdgeData e{};
        e.from_port = cudaGraphKernelNodePortProgrammatic;
        e.type = cudaGraphDependencyTypeProgrammatic;
        if (cudaGraphAddDependencies(g, &gate, &first, &e, 1) != cudaSuccess) {
          std::printf("%s: no programmatic edge here (%s); skipped\n", v.name.c_str(),
                      cudaGetErrorString(cudaGetLastError()));
          return cudaGraphExec_t(nullptr);
        }
      }
      CK(cudaGraphAddEventRecordNode(&last, g, &end, 1, ev1));
      if (v.probe_pdl) {
        pnode = kernel_node(g, nullptr, 0, reinterpret_cast<void*>(probe_kernel), pargs, 1, 1);
        cudaGraphEdgeData e{};
        e.from_port = cudaGraphKernelNodePortProgrammatic;
        e.type = cudaGraphDependencyTypeProgrammatic;
        CK(cudaGraphAddDependencies(g, &gate, &pnode, &e, 1));
      } else {
        pnode = kernel_node(g, &gate, nroot, reinterpret_cast<void*>(probe_kernel), pargs, 1, 1);
      }
    }
    cudaGraphNode_t tails[2] = {last, pnode};
    CK(cudaGraphAddEmptyNode(&join, g, tails, 2));
    kernel_node(g, &join, 1, reinterpret_cast<void*>(done_kernel), pargs, 1, 1);
    cudaGraphExec_t e;
    if (cudaGraphInstantiate(&e, g, 0) != cudaSuccess) {
      std::printf("%s: cannot instantiate (%s); skipped\n", v.name.c_str(), cudaGetErrorString(cudaGetLastError()));
      return cudaGraphExec_t(nullptr);
    }
    CK(cudaGraphUpload(e, stream));
    CK(cudaStreamSynchronize(stream));
    return e;
  };

  std::vector<Variant> vs;
  auto add = [&](Variant v) { vs.push_back(v); };
  // name, gate, gap, par, pdl, hot, fat, trt_gate, probe_pdl
  add({"cont serial", Variant::none, false});
  add({"cont par", Variant::none, false, true});
  add({"sleep serial", Variant::none, true});
  add({"kernel serial", Variant::kernel, true});
  add({"kernel par pdl", Variant::kernel, true, true, true});
  add({"kernel par pdl hot", Variant::kernel, true, true, true, true});
  add({"kernel par pdl trtgate", Variant::kernel, true, true, true, false, false, true});
  add({"kernel par pdl probepdl", Variant::kernel, true, true, true, false, false, false, true});
  add({"wait serial", Variant::wait, true});
  add({"fat: cont serial", Variant::none, false, false, false, false, true});
  add({"fat: kernel par pdl", Variant::kernel, true, true, true, false, true});
  add({"fat: trtpace's armed graph", Variant::kernel, true, true, true, false, true, true, true});
  add({"fat: wait serial", Variant::wait, true, false, false, false, true});
  for (auto& v : vs) v.exec = build(v);
  uint32_t seq = 0, done_seq = 0;
  Stamps s{};
  auto sync_query = [&] {
    cudaError_t e;
    while ((e = cudaStreamQuery(stream)) == cudaErrorNotReady) __builtin_ia32_pause();
    CK(e);
  };
  const int64_t gap = int64_t(gap_ms * 1e6);
  for (int r = 0; r < rounds; ++r) {
    for (auto& v : vs) {
      if (!v.exec) continue;
      for (int i = -3; i < per_round; ++i) {  // 3 warm-up inferences per round
        CK(cudaMemsetAsync(st_d, 0, sizeof(Stamps), stream));
        sync_query();
        __atomic_store_n(&flag_h->expect, ++done_seq, __ATOMIC_RELEASE);
        const int64_t due = now_ns() + (v.gap ? gap : 0);
        if (v.gate != Variant::none) {  // arm during the gap
          ++seq;
          __atomic_store_n(&flag_h->armed, seq, __ATOMIC_RELEASE);
          if (v.gate == Variant::wait)
            wait_value(reinterpret_cast<CUstream>(stream), reinterpret_cast<CUdeviceptr>(&flag_d->release), seq,
                       CU_STREAM_WAIT_VALUE_GEQ);
          CK(cudaGraphLaunch(v.exec, stream));
        }
        if (v.hot)
          while (now_ns() < due) __builtin_ia32_pause();
        else
          wait_until(due);
        const int64_t t0 = now_ns();
        if (v.gate != Variant::none)
          __atomic_store_n(&flag_h->release, seq, __ATOMIC_RELEASE);
        else
          CK(cudaGraphLaunch(v.exec, stream));
        while (__atomic_load_n(&flag_h->done, __ATOMIC_ACQUIRE) != done_seq) __builtin_ia32_pause();
        const int64_t tf = now_ns();
        sync_query();
        const int64_t t1 = now_ns();
        if (i < 0) continue;
        CK(cudaMemcpy(&s, st_d, sizeof(s), cudaMemcpyDeviceToHost));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, ev0, ev1));
        const uint64_t seen = v.gate != Variant::kernel ? 0 : v.trt_gate ? flag_h->seen_gt : s.gate_seen;
        v.e2e.push_back((t1 - t0) / 1e3);
        v.flag.push_back((tf - t0) / 1e3);
        v.query_after_flag.push_back((t1 - tf) / 1e3);
        v.end_to_donek.push_back((double(s.done) - double(s.body_end)) / 1e3);
        v.device.push_back(ms * 1e3);
        v.gate_to_start.push_back(seen ? (double(s.body_start) - double(seen)) / 1e3 : 0.0);
        // host e2e minus GPU body time (first kernel start -> last kernel end)
        v.end_to_done_est.push_back((t1 - t0) / 1e3 - (double(s.body_end) - double(s.body_start)) / 1e3);
      }
    }
  }
  auto pct = [](std::vector<double> x, double p) {
    std::sort(x.begin(), x.end());
    return x.empty() ? 0.0 : x[size_t(p * double(x.size() - 1))];
  };
  const double base = pct(vs[0].e2e, 0.5), base99 = pct(vs[0].e2e, 0.99);
  const double base_par = pct(vs[1].e2e, 0.5), base_par99 = pct(vs[1].e2e, 0.99);
  std::printf("%s, gap %.0f ms, %d rounds x %d per variant (interleaved)\n", prop.name, gap_ms, rounds, per_round);
  std::printf("x cont: against `cont serial`; x par: against `cont par`; fat variants: see `fat: cont serial`\n");
  std::printf("%-36s %9s %7s %7s %9s %7s %7s %9s %10s %12s %9s %10s %10s\n", "variant", "e2e p50", "x cont", "x par",
              "e2e p99", "x cont", "x par", "device", "gate->body", "e2e-body p50", "flag p50", "query-flag",
              "end->donek");
  for (auto& v : vs)
    if (v.exec)
      std::printf("%-36s %9.2f %7.3f %7.3f %9.2f %7.3f %7.3f %9.2f %10.2f %12.2f %9.2f %10.2f %10.2f\n", v.name.c_str(),
                  pct(v.e2e, 0.5), pct(v.e2e, 0.5) / base, pct(v.e2e, 0.5) / base_par, pct(v.e2e, 0.99),
                  pct(v.e2e, 0.99) / base99, pct(v.e2e, 0.99) / base_par99, pct(v.device, 0.5),
                  pct(v.gate_to_start, 0.5), pct(v.end_to_done_est, 0.5), pct(v.flag, 0.5),
                  pct(v.query_after_flag, 0.5), pct(v.end_to_donek, 0.5));
  return 0;
}
