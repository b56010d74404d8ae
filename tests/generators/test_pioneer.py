"""PIONEER autoencoders: a session checkpoint written by the authors' PIONEER code (random
weights, reduced width) loads through the config and decodes/encodes as PIONEER does."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from robustlens.models.generators.pioneer import PioneerAutoencoders, load_pioneer, load_pioneer_checkpoint
from tests.reference_code import import_pioneer_model

CONF = Path(__file__).resolve().parents[2] / "conf" / "generator"
NZ = 64  # channels incl. the label slot (the published models: 512); latent dim = NZ - 1


def _write_reference_checkpoint(path: Path, seed: int, phase: int = 5, alpha: float = 1.0):
    """A PIONEER session file exactly as ``train.Session.save_all`` writes it."""
    model = import_pioneer_model()
    torch.manual_seed(seed)
    generator = nn.DataParallel(model.Generator(NZ, 1))
    g_running = nn.DataParallel(model.Generator(NZ, 1))
    encoder = nn.DataParallel(model.Discriminator(nz=NZ, n_label=1, binary_predictor=False))
    with torch.no_grad():  # every layer away from its zero-bias init, so all parameters matter
        for p in list(g_running.parameters()) + list(encoder.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "G_state_dict": generator.state_dict(),
        "D_state_dict": encoder.state_dict(),
        "G_running_state_dict": g_running.state_dict(),
        "optimizerD": torch.optim.Adam(encoder.parameters(), 1e-3, betas=(0.0, 0.99)).state_dict(),
        "optimizerG": torch.optim.Adam(generator.parameters(), 1e-3, betas=(0.0, 0.99)).state_dict(),
        "iteration": 1000, "phase": phase, "alpha": alpha,
    }, path)
    return g_running.module.eval(), encoder.module.eval()


def _converge_spectral_norms(encoder: nn.Module) -> None:
    """Set PIONEER's power-iteration vectors to the exact top singular vectors (a fully 'warmed' encoder)."""
    for module in encoder.modules():
        if hasattr(module, "weight_u"):
            w = module.weight_orig.detach().flatten(1)
            module.weight_u = torch.linalg.svd(w, full_matrices=False)[0][:, :1].clone()


@pytest.mark.parametrize("alpha", [1.0, 0.4])
def test_decode_and_encode_equal_pioneer(tmp_path, alpha):
    ref_g, ref_e = _write_reference_checkpoint(tmp_path / "c0_state", seed=0, alpha=alpha)
    _converge_spectral_norms(ref_e)
    model = load_pioneer_checkpoint(tmp_path / "c0_state", resolution=128)
    assert model.latent_dim == NZ - 1 and model.step == 5
    z = torch.randn(3, NZ - 1)
    with torch.no_grad():
        expected = ref_g(z / math.sqrt(NZ - 1), torch.zeros(3, 1), 5, alpha)
        got = model(z)
        assert got.shape == (3, 3, 128, 128)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        x = torch.rand(3, 3, 128, 128) * 2 - 1
        ref_code = ref_e(x, 5, alpha, 0)[:, : NZ - 1] * math.sqrt(NZ - 1)
        torch.testing.assert_close(model.encode(x), ref_code, rtol=1e-4, atol=1e-5)


def test_config_loads_per_class_collection(tmp_path):
    refs = [_write_reference_checkpoint(tmp_path / f"pioneer/c{c}/checkpoint/{c}_state", seed=c) for c in (0, 1)]
    cfg = OmegaConf.load(CONF / "pioneer.yaml")
    cfg.weights_dir = str(tmp_path)
    cfg.checkpoints = ["pioneer/c0/checkpoint/0_state", "pioneer/c1/checkpoint/1_state"]
    gen = instantiate(cfg)
    assert isinstance(gen, PioneerAutoencoders) and gen.has_encoder and gen.num_classes == 2
    z, y = torch.randn(4, NZ - 1), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        images = gen.decode(z, y)
        assert images.shape == (4, 3, 128, 128) and images.min() >= 0 and images.max() <= 1
        for i in range(4):  # each sample went through its own class's network
            ref = refs[int(y[i])][0](z[i : i + 1] / math.sqrt(NZ - 1), torch.zeros(1, 1), 5, 1.0)
            torch.testing.assert_close(images[i : i + 1], ((ref + 1) / 2).clamp(0, 1), rtol=1e-4, atol=1e-5)
        codes = gen.encode(images, y)
    assert codes.shape == (4, NZ - 1)
    for i in range(4):  # each image encoded by its own class's encoder (√n · unit vector, label slot dropped)
        encoder = refs[int(y[i])][1]
        _converge_spectral_norms(encoder)
        with torch.no_grad():
            ref = encoder(images[i : i + 1] * 2 - 1, 5, 1.0, 0)[:, : NZ - 1] * math.sqrt(NZ - 1)
        torch.testing.assert_close(codes[i : i + 1], ref, rtol=1e-4, atol=1e-5)


def test_missing_and_foreign_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="20580000_state"):
        load_pioneer(tmp_path, "celeba")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "bad_state")
    with pytest.raises(ValueError, match="lacks G_running_state_dict"):
        load_pioneer(tmp_path, ["bad_state"])
    with pytest.raises(ValueError, match="celeba, lsun"):
        load_pioneer(tmp_path, "imagenet")


def test_resolution_mismatch_is_refused(tmp_path):
    _write_reference_checkpoint(tmp_path / "s", seed=0, phase=4)  # a 64-px model
    with pytest.raises(ValueError, match="64 px"):
        load_pioneer_checkpoint(tmp_path / "s", resolution=128)
