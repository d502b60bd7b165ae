"""Shared building blocks (residual blocks, label embeddings)."""

from radgen.nn.blocks import DecoderResBlock, EncoderResBlock, LabelEmbedding, group_norm
from radgen.nn.conv import ConvDecoder, ConvEncoder

__all__ = ["ConvDecoder", "ConvEncoder", "DecoderResBlock", "EncoderResBlock", "LabelEmbedding", "group_norm"]
