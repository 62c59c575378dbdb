"""PyTorch modules as workloads: captured once into a CUDA graph that the runner launches."""

from __future__ import annotations

from typing import Any

from trtpace.measure.workloads.core import Workload, from_graph


def capture_graph(module: Any, example_inputs: tuple[Any, ...], warmup: int = 3) -> tuple[Any, Any]:
    """Captures `module(*example_inputs)` into a torch.cuda.CUDAGraph(keep_graph=True).

    Returns (graph, outputs); the graph replays on the same input and output tensors, so write new
    inputs into `example_inputs` in place. Needs PyTorch 2.9+ (raw graph handles).
    """
    import torch

    if not hasattr(torch.cuda.CUDAGraph, "raw_cuda_graph"):
        raise RuntimeError(f"PyTorch {torch.__version__} has no CUDAGraph.raw_cuda_graph; trtpace needs 2.9 or newer")
    side = torch.cuda.Stream()
    with torch.no_grad(), torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
        for _ in range(warmup):
            module(*example_inputs)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph(keep_graph=True)
    with torch.no_grad(), torch.cuda.graph(graph):
        outputs = module(*example_inputs)
    graph.instantiate()
    return graph, outputs


def from_torch(module: Any, example_inputs: tuple[Any, ...], *, gpu: int = 0, name: str = "torch module") -> Workload:
    """A workload running `module` as one CUDA graph, with device time measured inside the graph.

    The workload keeps the graph, the module and its tensors alive for as long as it lives.
    """
    graph, outputs = capture_graph(module, example_inputs)
    w = from_graph(graph.raw_cuda_graph(), gpu=gpu, keepalive=(graph, module, example_inputs, outputs), name=name)
    w.info["kind"] = "torch"
    return w
