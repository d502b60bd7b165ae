"""Feature extractors: inception refuses without its weights; the domain extractor is trained, cached and hashed."""
from __future__ import annotations

import pytest
import torch

from radgen.data import DataConfig
from radgen.errors import ConfigError, MissingDataError
from radgen.metrics.features import FEATURES, get_extractor


def test_inception_without_weights_raises_the_documented_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RADGEN_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(MissingDataError, match=r"pt_inception-2015-12-05-6726825d.pth.*does not download.*never a number named FID"):
        get_extractor("inception")
    assert {"inception", "radgen-cnn001"} <= set(FEATURES.names())


def test_inception_with_a_file_present_still_refuses_until_the_network_exists(tmp_path):
    f = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    f.write_bytes(b"not really weights")
    with pytest.raises(ConfigError, match="not implemented yet"):
        get_extractor("inception", weights=str(f))


def test_domain_extractor_is_trained_once_cached_and_hashed(tmp_path):
    cfg = DataConfig(name="pneumoniamnist")
    ex = get_extractor("radgen-cnn001", data_config=cfg, cache_dir=tmp_path, epochs=1)
    assert ex.distance_name == "FD_radgen-cnn001" and ex.dim == 128 and len(ex.weights_sha256) == 64
    assert ex.record["dataset"] == "pneumoniamnist" and ex.record["train_images"] + ex.record["val_images"] == 4708
    f = ex(torch.rand(5, 1, 28, 28))
    assert f.shape == (5, 128) and f.dtype == torch.float64
    again = get_extractor("radgen-cnn001", data_config=cfg, cache_dir=tmp_path, epochs=1)
    assert again.weights_sha256 == ex.weights_sha256  # loaded from the cache, not retrained
    torch.testing.assert_close(again(torch.ones(2, 1, 28, 28)), ex(torch.ones(2, 1, 28, 28)))
    assert ex(torch.rand(2, 3, 56, 56)).shape == (2, 128)  # colour and other sizes are mapped to what it was trained on
