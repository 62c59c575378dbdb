#include "trtpace/timed_graph.hpp"

#include <vector>

#include "cuda_compat.hpp"
#include "trtpace/armed.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/probe.hpp"

namespace trtpace {

namespace {
std::vector<cudaGraphNode_t> graph_nodes(cudaGraph_t graph) {
  size_t n = 0;
  TRTPACE_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &n));
  std::vector<cudaGraphNode_t> nodes(n);
  if (n) TRTPACE_CUDA_CHECK(cudaGraphGetNodes(graph, nodes.data(), &n));
  return nodes;
}

size_t dependents(cudaGraphNode_t node) {
  size_t n = 0;
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphNodeGetDependentNodes)(node, nullptr, nullptr, &n));
  return n;
}

size_t dependencies(cudaGraphNode_t node) {
  size_t n = 0;
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphNodeGetDependencies)(node, nullptr, nullptr, &n));
  return n;
}

bool is_kernel(cudaGraphNode_t node) {
  cudaGraphNodeType type{};
  TRTPACE_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
  return type == cudaGraphNodeTypeKernel;
}

// from -> to; a programmatic edge lets `to` launch once every block of `from` has triggered
// (griddepcontrol.launch_dependents) instead of once `from` has exited.
void add_edge(cudaGraph_t graph, cudaGraphNode_t from, cudaGraphNode_t to, bool programmatic) {
  cudaGraphEdgeData edge{};
  if (programmatic) {
    edge.from_port = cudaGraphKernelNodePortProgrammatic;
    edge.type = cudaGraphDependencyTypeProgrammatic;
  }
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphAddDependencies)(graph, &from, &to, &edge, 1));
}
}  // namespace

TimedGraph make_timed_graph(cudaGraph_t model, const InbandProbe& probe, const ArmedGate* gate, bool pdl) {
  TimedGraph out;
  out.start = make_event();
  out.end = make_event();
  cudaGraphNode_t start = nullptr, end = nullptr;
  if (!gate || !pdl) {
    // [gate ->] start event -> {probe, model as a child graph} ; model -> end event. The probe
    // node is made before the model's: this is the layout whose in-band clock reading was checked
    // against NVML under load (tests/test_gpu.py); with the probe added after a flat copy of the
    // model's nodes it read 1.2-1.3 GHz on an H100 at 1.98 GHz.
    cudaGraph_t raw = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphCreate(&raw, 0));
    Graph graph(raw);
    cudaGraphNode_t gate_node = gate ? gate->add_gate_node(raw) : nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&start, raw, &gate_node, gate_node ? 1 : 0, out.start.get()));
    probe.add_node(raw, &start, 1);
    cudaGraphNode_t body = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphAddChildGraphNode(&body, raw, &start, 1, model));  // clones `model`
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&end, raw, &body, 1, out.end.get()));
    out.exec = instantiate(raw);
    return out;
  }
  // Armed with programmatic edges, which only join kernel nodes: the model's nodes are cloned to
  // the top level, the gate is the one root, the model's first kernels and the probe launch on
  // the gate's trigger, and the start event follows the gate's exit beside them.
  cudaGraph_t raw = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphClone(&raw, model));
  Graph graph(raw);
  std::vector<cudaGraphNode_t> roots, leaves;  // the model's first and last nodes
  for (cudaGraphNode_t node : graph_nodes(raw)) {
    if (!dependencies(node)) roots.push_back(node);
    if (!dependents(node)) leaves.push_back(node);
  }
  cudaGraphNode_t gate_node = gate->add_gate_node(raw);
  TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&start, raw, &gate_node, 1, out.start.get()));
  add_edge(raw, gate_node, probe.add_node(raw, nullptr, 0), true);
  for (cudaGraphNode_t root : roots) add_edge(raw, gate_node, root, is_kernel(root));
  TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&end, raw, leaves.data(), leaves.size(), out.end.get()));
  out.exec = instantiate(raw);
  return out;
}

}  // namespace trtpace
