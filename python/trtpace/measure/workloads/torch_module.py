"""PyTorch modules as workloads, through the launch path an app takes (trtpace.measure.launch):

  eager    the module called from Python per inference (one launch per op), on the runner's stream
  replay   the module captured once into a torch.cuda.CUDAGraph, `replay()` called from Python
  graph    the same capture launched from trtpace's C++ loop (device time measured inside the graph)

and, with `io`, the copies a real app makes per inference: a fresh input written on the host (a
few bytes changed each time), copied in with non_blocking from pinned or pageable memory, and
the output copied back, so "load the next image, infer" is measured whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trtpace.errors import UsageError
from trtpace.measure.launch import TORCH_PATHS
from trtpace.measure.workloads.core import Workload, from_callable, from_graph

IO_MODES = ("none", "pinned", "pageable")


def check_launch_io(launch: str, io: str) -> None:
    """Validates a (launch, io) pair without importing torch."""
    if launch not in TORCH_PATHS:
        raise UsageError(f"launch must be one of {', '.join(TORCH_PATHS)} for a PyTorch module, got {launch!r}")
    if io not in IO_MODES:
        raise UsageError(f"io must be one of {', '.join(IO_MODES)}, got {io!r}")
    if launch == "graph" and io == "pageable":
        # A copy from pageable memory cannot be captured into a CUDA graph.
        raise UsageError(
            "--io pageable cannot go into a CUDA graph launched from C++: use --io pinned for the "
            "graph path, or --launch eager,replay"
        )


def capture_graph(
    module: Any,
    example_inputs: tuple[Any, ...],
    warmup: int = 3,
    *,
    keep_graph: bool = True,
    body: Callable[[], Any] | None = None,
) -> tuple[Any, Any]:
    """Captures `module(*example_inputs)` (or `body()`) into a torch.cuda.CUDAGraph.

    Returns (graph, outputs); the graph replays on the same input and output tensors, so write new
    inputs into `example_inputs` in place. keep_graph=True (for the C++ launch through
    raw_cuda_graph) needs PyTorch 2.9+.
    """
    import torch

    if keep_graph and not hasattr(torch.cuda.CUDAGraph, "raw_cuda_graph"):
        raise RuntimeError(f"PyTorch {torch.__version__} has no CUDAGraph.raw_cuda_graph; trtpace needs 2.9 or newer")
    run = body or (lambda: module(*example_inputs))
    side = torch.cuda.Stream()
    with torch.no_grad(), torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
        for _ in range(warmup):
            run()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph(keep_graph=True) if keep_graph else torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        outputs = run()
    if keep_graph:
        graph.instantiate()
    return graph, outputs


def _tensors(x: Any) -> list[Any]:
    """The tensors in a module's output (a tensor, or nested tuples/lists/dicts of them)."""
    import torch

    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    return []


class HostIO:
    """The host side of one inference's input and output: host copies of every CUDA input (pinned
    or pageable) that are copied in before each inference, outputs copied back after.

    The input write itself (the app's preprocessed frame written into the host buffer) is the
    paced runner's staging step (`staging`): after the gap, on the critical path, a whole new
    input written from one of two source frames in turn, as a new image would be.
    """

    def __init__(self, example_inputs: tuple[Any, ...], outputs: Any, mode: str):
        import torch

        self.mode = mode
        pin = mode == "pinned"
        self.inputs = [t for t in example_inputs if isinstance(t, torch.Tensor) and t.is_cuda]
        self.host_in = [torch.empty(t.shape, dtype=t.dtype, pin_memory=pin).copy_(t) for t in self.inputs]
        # Two source frames per input (pageable, as an app's preprocessing output is): the
        # example input, and the same with the lowest mantissa bit of every element flipped.
        self.sources = []
        for h in self.host_in:
            a = h.clone().contiguous()
            b = a.clone()
            if b.is_floating_point() and b.numel():
                b.view(-1).view(torch.uint8)[:: b.element_size()] ^= 1
            self.sources.append((a, b))
        self.set_outputs(outputs)

    def set_outputs(self, outputs: Any) -> None:
        import torch

        pin = self.mode == "pinned"
        self.outputs = _tensors(outputs)
        self.host_out = [torch.empty(t.shape, dtype=t.dtype, pin_memory=pin) for t in self.outputs]

    @property
    def staging(self) -> tuple[tuple[int, int, int, int], ...]:
        return tuple(
            (h.data_ptr(), a.data_ptr(), b.data_ptr(), h.numel() * h.element_size())
            for h, (a, b) in zip(self.host_in, self.sources, strict=True)
        )

    def named(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The host buffers by name: input0, input1, ... and output0, output1, ..."""
        return (
            {f"input{i}": t for i, t in enumerate(self.host_in)},
            {f"output{i}": t for i, t in enumerate(self.host_out)},
        )

    def copy_in(self) -> None:
        for dev, host in zip(self.inputs, self.host_in, strict=True):
            dev.copy_(host, non_blocking=True)

    def copy_out(self, outputs: Any | None = None) -> None:
        tensors = self.outputs if outputs is None else _tensors(outputs)
        for host, dev in zip(self.host_out, tensors, strict=True):
            host.copy_(dev, non_blocking=True)


def _capture_copies(copies: Callable[[], None]) -> Any:
    """The copies `copies()` enqueues, captured into a torch.cuda.CUDAGraph kept for C++ launch."""
    import torch

    graph = torch.cuda.CUDAGraph(keep_graph=True)
    with torch.cuda.graph(graph):
        copies()
    graph.instantiate()
    return graph


def _attach(w: Workload, host_io: HostIO | None) -> None:
    if host_io is not None:
        w.staging = host_io.staging
        w.host_inputs, w.host_outputs = host_io.named()


# Long because it is one sequence: inputs, warm-up, the launch path's capture, I/O staging, workload.
def from_torch(
    module: Any,
    example_inputs: tuple[Any, ...],
    *,
    gpu: int = 0,
    name: str = "torch module",
    launch: str = "graph",
    io: str = "none",
) -> Workload:
    """A workload running `module(*example_inputs)` through one launch path (see the module doc).

    The workload keeps the module, its tensors and any graph alive for as long as it lives. With
    `io` "pinned" or "pageable", each inference also copies its input in from host memory and
    its output out; the paced runner writes a new input into that host memory after each gap (the
    app's input write, timed as its own part). On the graph path with io="pinned" the copies are
    captured into the graph and the host buffers are the workload's `host_inputs`/`host_outputs`
    (`Pacer.inputs`/`Pacer.outputs`): the app's input surface.
    """
    check_launch_io(launch, io)
    import torch

    example_inputs = tuple(example_inputs)
    info: dict[str, Any] = {"kind": "torch", "launch": launch, "io": io, "torch": torch.__version__}

    if launch == "graph":
        if io == "none":
            graph, outputs = capture_graph(module, example_inputs)
            w = from_graph(
                graph.raw_cuda_graph(), gpu=gpu, keepalive=(graph, module, example_inputs, outputs), name=name
            )
            w.info.update(info)
            return w
        with torch.no_grad():
            copies = HostIO(example_inputs, module(*example_inputs), io)
        # Three captures: the input copy, the model, the output copy. trtpace runs them as one graph
        # with event nodes between them, so the copies are timed apart from the model.
        graph, outputs = capture_graph(module, example_inputs)
        copies.set_outputs(outputs)
        copy_in = _capture_copies(copies.copy_in)
        copy_out = _capture_copies(copies.copy_out)
        w = from_graph(
            graph.raw_cuda_graph(),
            gpu=gpu,
            name=name,
            copy_in=copy_in.raw_cuda_graph(),
            copy_out=copy_out.raw_cuda_graph(),
            keepalive=(graph, copy_in, copy_out, module, example_inputs, outputs, copies),
        )
        w.info.update(info)
        _attach(w, copies)
        return w

    # The Python paths run on a stream of PyTorch's own pool, lent to the runner: PyTorch's
    # pinned-memory allocator records events on every stream a copy used when it frees the host
    # buffer, which may happen after the workload is gone, so the stream must outlive it.
    stream = torch.cuda.Stream(device=gpu)
    host_io: HostIO | None = None
    if io != "none":
        with torch.no_grad():
            host_io = HostIO(example_inputs, module(*example_inputs), io)

    if launch == "eager":

        def infer(handle: int) -> None:
            with torch.no_grad(), torch.cuda.stream(stream):
                if host_io is not None:
                    host_io.copy_in()
                out = module(*example_inputs)
                if host_io is not None:
                    host_io.copy_out(out)

        keep: tuple[Any, ...] = (module, example_inputs, host_io)
    else:  # replay: CUDAGraph.replay() launches on the current torch stream, so make that the runner's
        graph, outputs = capture_graph(module, example_inputs, keep_graph=False)
        if host_io is not None:
            host_io.set_outputs(outputs)

        def infer(handle: int) -> None:
            with torch.cuda.stream(stream):
                if host_io is not None:
                    host_io.copy_in()
                graph.replay()
                if host_io is not None:
                    host_io.copy_out()

        keep = (graph, module, example_inputs, outputs, host_io)
    w = from_callable(infer, gpu=gpu, name=name, stream=stream.cuda_stream)
    w.keepalive = (*w.keepalive, *keep, stream)
    w.info.update(info)
    if host_io is not None:
        w.staging = host_io.staging  # the Python paths copy in inside the call: no input surface
    return w


def from_torch_paths(
    module: Any,
    example_inputs: tuple[Any, ...],
    launches: tuple[str, ...] | list[str] = TORCH_PATHS,
    *,
    gpu: int = 0,
    name: str = "torch module",
    io: str = "none",
) -> list[Workload]:
    """One workload per launch path of the same module (same name: the path tells them apart)."""
    for launch in launches:
        check_launch_io(launch, io)
    return [from_torch(module, example_inputs, gpu=gpu, name=name, launch=launch, io=io) for launch in launches]
