"""BigGAN sources: a BigGAN-PyTorch state dict written by the reference ``biggan/`` code and a
pytorch-pretrained-biggan model saved with random weights load through their configs and
decode exactly as the original definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from robustlens.models.generators.biggan import BigGANPyTorch, load_biggan_pytorch
from tests.conftest import require_module
from tests.reference_code import import_biggan

CONF = Path(__file__).resolve().parents[2] / "conf" / "generator"
#: a reduced Paper A BigGAN: same options, channel width 8 instead of 96, 5 classes
SMALL = {"G_ch": 8, "dim_z": 24, "resolution": 128, "G_attn": "64", "n_classes": 5, "shared_dim": 16, "hier": True}


def _reference_generator(seed: int = 0) -> nn.Module:
    big = import_biggan("BigGAN")
    torch.manual_seed(seed)
    g = big.Generator(
        **SMALL, BN_eps=1e-5, SN_eps=1e-6, G_activation=nn.ReLU(inplace=True), G_init="ortho",
        skip_init=False, no_optim=True, G_shared=True,
    )
    with torch.no_grad():  # trained-looking statistics and a live attention gain
        for name, buf in g.named_buffers():
            if name.endswith("stored_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("stored_var"):
                buf.uniform_(0.5, 1.5)
        for name, p in g.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.7)
    return g.eval()


def _biggan_cfg(weights: Path):
    cfg = OmegaConf.load(CONF / "biggan_pytorch.yaml")
    cfg.weights_file = str(weights)
    cfg.merge_with(SMALL)
    return cfg


def test_biggan_pytorch_decodes_as_the_reference(tmp_path):
    ref = _reference_generator()
    torch.save(ref.state_dict(), tmp_path / "G_ema.pth")
    gen = instantiate(_biggan_cfg(tmp_path / "G_ema.pth"))
    assert isinstance(gen, BigGANPyTorch) and gen.latent_dim == 24 and gen.num_classes == 5
    assert not gen.has_encoder  # encode = batched gradient inversion
    z, y = torch.randn(3, 24), torch.tensor([0, 4, 2])
    with torch.no_grad():
        # Paper A's decode_sample: G(z·(1 − 0.25), G.shared(y)), images in [-1, 1]
        expected = ref(z * 0.75, ref.shared(y))
        got = gen.decode(z, y)
    assert got.shape == (3, 3, 128, 128) and got.min() >= 0 and got.max() <= 1
    torch.testing.assert_close(got, (expected + 1) / 2, rtol=1e-4, atol=2e-5)


def test_biggan_class_map_picks_generator_classes(tmp_path):
    ref = _reference_generator()
    torch.save(ref.state_dict(), tmp_path / "G_ema.pth")
    cfg = _biggan_cfg(tmp_path / "G_ema.pth")
    cfg.class_map = [3, 1]
    gen = instantiate(cfg)
    assert gen.num_classes == 2
    z = torch.randn(2, 24)
    with torch.no_grad():
        torch.testing.assert_close(
            gen.decode(z, torch.tensor([0, 1])), (ref(z * 0.75, ref.shared(torch.tensor([3, 1]))) + 1) / 2,
            rtol=1e-4, atol=2e-5,
        )
    with pytest.raises(ValueError, match=r"0\.\.4"):
        load_biggan_pytorch(tmp_path / "G_ema.pth", class_map=[7], **SMALL)


def test_biggan_wrong_architecture_names_the_options(tmp_path):
    torch.save(_reference_generator().state_dict(), tmp_path / "G_ema.pth")
    with pytest.raises(ValueError, match="G_ch=16"):
        load_biggan_pytorch(tmp_path / "G_ema.pth", **{**SMALL, "G_ch": 16})
    with pytest.raises(FileNotFoundError, match=r"G_ema\.pth"):
        load_biggan_pytorch(tmp_path / "none" / "G_ema.pth")


@pytest.fixture
def pretrained_dir(tmp_path) -> Path:
    """A pytorch-pretrained-biggan model folder (config.json + pytorch_model.bin), random weights."""
    package = require_module("pytorch_pretrained_biggan", reason="optional extra pytorch-pretrained-biggan")
    config = package.BigGANConfig(  # BigGAN-deep-128's layout at channel width 4, 6 classes
        output_dim=128, z_dim=16, class_embed_dim=16, channel_width=4, num_classes=6,
    )
    torch.manual_seed(0)
    model = package.BigGAN(config)
    with torch.no_grad():  # the package leaves some parameters uninitialised (it expects TF weights)
        for name, p in model.named_parameters():
            if not name.endswith("weight_orig"):  # spectral-normed weights keep their u, v
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if name == "generator.bn.weight" else 0.0))
        for name, buf in model.named_buffers():
            if "running_means" in name:
                buf.normal_(0, 0.1)
            elif "running_vars" in name:
                buf.uniform_(0.5, 1.5)
        # torch's spectral norm starts from random u, v: a few training-mode passes converge them
        model.train()
        for _ in range(10):
            model(torch.randn(2, 16) * 0.4, torch.eye(6)[:2], 0.4)
    torch.save(model.eval().state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps(config.__dict__))
    return tmp_path


def test_pretrained_biggan_decodes_as_the_package(pretrained_dir):
    package = require_module("pytorch_pretrained_biggan")
    ref = package.BigGAN.from_pretrained(str(pretrained_dir)).eval()
    cfg = OmegaConf.load(CONF / "pretrained_biggan.yaml")
    cfg.model_dir = str(pretrained_dir)
    gen = instantiate(cfg)
    assert gen.latent_dim == 16 and gen.num_classes == 6 and gen.truncation == 0.4
    z, y = torch.randn(2, 16), torch.tensor([5, 1])
    with torch.no_grad():
        expected = ref(0.4 * z, torch.tensor(package.one_hot_from_int([5, 1], batch_size=2))[:, :6], 0.4)
        got = gen.decode(z, y)
    assert got.shape == (2, 3, 128, 128) and got.min() >= 0 and got.max() <= 1
    torch.testing.assert_close(got, (expected + 1) / 2, rtol=1e-4, atol=2e-5)


def test_pretrained_biggan_missing_files_are_named(tmp_path):
    require_module("pytorch_pretrained_biggan")
    from robustlens.models.generators.pretrained_biggan import load_pretrained_biggan

    with pytest.raises(FileNotFoundError, match=r"config\.json, pytorch_model\.bin"):
        load_pretrained_biggan(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"pytorch_model\.bin"):
        load_pretrained_biggan(tmp_path)
