"""Small ONNX models the tests make themselves with onnx's helper API."""

from __future__ import annotations

import numpy as np


def conv_net(dynamic_batch: bool = True, loop: bool = False) -> bytes:
    """Three 3x3 convolutions with ReLU on a 1x3x32x32 input (batch dynamic if asked); with
    `loop`, a Loop node that TensorRT cannot capture into a CUDA graph."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    batch = "N" if dynamic_batch else 1
    nodes, inits = [], []
    prev, channels = "input", 3
    for i in range(3):
        w = helper.make_tensor(
            f"w{i}",
            TensorProto.FLOAT,
            [8, channels, 3, 3],
            rng.standard_normal(8 * channels * 9).astype(np.float32).tolist(),
        )
        inits.append(w)
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev, channels = f"r{i}", 8
    nodes.append(helper.make_node("Identity", [prev], ["output"]))
    if loop:
        body = helper.make_graph(
            [
                helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                helper.make_node("Identity", ["x_in"], ["x_out"]),
            ],
            "body",
            [
                helper.make_tensor_value_info("iter", TensorProto.INT64, []),
                helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x_in", TensorProto.FLOAT, []),
            ],
            [
                helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x_out", TensorProto.FLOAT, []),
            ],
        )
        inits += [
            helper.make_tensor("trip", TensorProto.INT64, [], [2]),
            helper.make_tensor("cond", TensorProto.BOOL, [], [True]),
            helper.make_tensor("x0", TensorProto.FLOAT, [], [1.0]),
        ]
        nodes.append(helper.make_node("Loop", ["trip", "cond", "x0"], ["x_final"], body=body))
    graph = helper.make_graph(
        nodes,
        "convnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 8, 32, 32])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()
