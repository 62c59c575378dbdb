"""The API an application embeds to keep its own loop fast: KeepWarm and Pacer."""

from __future__ import annotations

from trtpace.embed.remedies import InferenceRecord, KeepWarm, Pacer

__all__ = ["InferenceRecord", "KeepWarm", "Pacer"]
