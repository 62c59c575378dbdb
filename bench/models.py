"""Two small PyTorch models for measuring launch paths (no downloads, fp16 on CUDA by default).

    conv_net()           an image classifier: a conv stem, 4 residual conv stages, pool, linear
    transformer_block()  a pre-norm transformer block (attention + MLP) over a short sequence

Each factory returns (module, example_inputs) as `trtpace sweep --torch bench.models:conv_net`
expects; sized for about 0.3-1 ms per inference on an H100 when run as one CUDA graph.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.skip(x))


class ConvNet(nn.Module):
    """A ResNet-18-shaped classifier (about 40 kernels eagerly)."""

    def __init__(self, classes: int = 1000, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        chans = [width, width * 2, width * 4, width * 8]
        blocks, cin = [], width
        for i, c in enumerate(chans):
            blocks += [_Block(cin, c, 1 if i == 0 else 2), _Block(c, c, 1)]
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class TransformerBlock(nn.Module):
    """Pre-norm attention + MLP, as in a ViT or a decoder layer (fused SDPA attention)."""

    def __init__(self, dim: int = 1024, heads: int = 16, mlp: int = 4):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Linear(mlp * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


def _place(module: nn.Module, x: torch.Tensor, device: str | None, dtype: torch.dtype | None) -> tuple[Any, tuple]:
    device = device or "cuda"
    dtype = dtype or (torch.float16 if device.startswith("cuda") else torch.float32)
    torch.manual_seed(0)
    module = module.to(device=device, dtype=dtype).eval()
    return module, (x.to(device=device, dtype=dtype),)


def conv_net(
    batch: int = 1, size: int = 224, device: str | None = None, dtype: torch.dtype | None = None
) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """An image classifier on a (batch, 3, size, size) image: about 0.5 ms in fp16 on an H100."""
    g = torch.Generator().manual_seed(1)
    return _place(ConvNet(), torch.randn(batch, 3, size, size, generator=g), device, dtype)


def transformer_block(
    batch: int = 4, tokens: int = 256, dim: int = 1024, device: str | None = None, dtype: torch.dtype | None = None
) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """One transformer block over (batch, tokens, dim) activations: about 0.3-0.5 ms in fp16 on an H100."""
    g = torch.Generator().manual_seed(2)
    return _place(TransformerBlock(dim), torch.randn(batch, tokens, dim, generator=g), device, dtype)


MODELS = {"conv_net": conv_net, "transformer_block": transformer_block}
