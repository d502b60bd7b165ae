"""radgen's data layer: one loader per source format, one container, one cache.

>>> from radgen.data import load_dataset
>>> ds = load_dataset("pneumoniamnist", val_from_train=0.1)   # doctest: +SKIP
>>> x, y = ds["train"][0]          # float32 (1, 28, 28) in [0, 1], int64 label

Every loader yields float32 (N, C, H, W) images in [0, 1], integer (or multi-hot)
labels, and per-item metadata (source path, patient id where the source has one).
"""

from __future__ import annotations

from radgen.data.arrays import (
    ChestMNIST,
    ChestXray64,
    ChestXray128,
    ChestXrayFull64,
    PneumoniaMNIST,
    RadgenReleaseSource,
)
from radgen.data.base import DataSplits, ImageSet
from radgen.data.ct import DicomSeriesSource, NiftiSource
from radgen.data.cxr14 import CXR14Source
from radgen.data.folders import ImageFolderSource, KaggleChestXraySource
from radgen.data.idx import MNIST, FashionMNIST
from radgen.data.load import DATASETS, DataConfig, load_dataset, make_source
from radgen.data.source import Source
from radgen.data.transforms import Preprocess

for _cls in (
    ChestXrayFull64,
    ChestXray64,
    ChestXray128,
    KaggleChestXraySource,
    PneumoniaMNIST,
    ChestMNIST,
    CXR14Source,
    MNIST,
    FashionMNIST,
    DicomSeriesSource,
    NiftiSource,
    ImageFolderSource,
    RadgenReleaseSource,
):
    DATASETS.add(_cls.name, _cls, _cls.description)

DEFAULT_DATASET = "chest_xray_full_64"

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "DataConfig",
    "DataSplits",
    "ImageSet",
    "Preprocess",
    "Source",
    "load_dataset",
    "make_source",
]
