"""Bring-your-own generators (module + state dict, TorchScript) and the fit check that runs
before any search."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.models.generators.checks import check_generator_fits
from robustlens.models.generators.custom import load_module_generator, load_torchscript_generator
from tests.generators._toy_nets import ScriptableDecoder, ToyConditionalDecoder, ToyDecoder

CONF = Path(__file__).resolve().parents[2] / "conf" / "generator"


def _cfg(name: str, **values):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    cfg.num_classes = 3  # ${data.num_classes} outside a composed config
    cfg.merge_with(values)
    return cfg


def test_module_class_conditional_maps_range_prior_and_encoder(tmp_path):
    torch.manual_seed(0)
    net = ToyConditionalDecoder()
    torch.save(net.state_dict(), tmp_path / "g.pt")
    gen = instantiate(_cfg(
        "module", target="tests.generators._toy_nets.ToyConditionalDecoder", state_dict=str(tmp_path / "g.pt"),
        latent_dim=8, output_range=[-1.0, 1.0], prior_std=2.0,
    ))
    assert gen.has_encoder and gen.latent_dim == 8 and gen.num_classes == 3
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        images = gen.decode(z, y)
        # same images as the user's network on the declared prior scale, mapped [-1,1] → [0,1]
        torch.testing.assert_close(images, (net.decode(2.0 * z, y) + 1) / 2)
        x = torch.rand(4, 3, 16, 16)
        torch.testing.assert_close(gen.encode(x, y), net.encode(x * 2 - 1, y) / 2.0)
    check_generator_fits(gen, None, num_classes=3, image_shape=(3, 16, 16))


def test_module_per_class_with_uniform_prior(tmp_path):
    nets = []
    for c in range(3):
        torch.manual_seed(c)
        nets.append(ToyDecoder())
        torch.save(nets[-1].state_dict(), tmp_path / f"class{c}.pt")
    gen = load_module_generator(
        "tests.generators._toy_nets.ToyDecoder", latent_dim=8, num_classes=3,
        state_dict=str(tmp_path / "class{c}.pt"), conditioning="per_class", prior="uniform",
    )
    assert not gen.has_encoder  # no encode(): gradient inversion
    z, y = torch.randn(3, 8), torch.tensor([2, 0, 1])
    with torch.no_grad():
        images = gen.decode(z, y)
    for i in range(3):
        u = 2 * 0.5 * (1 + torch.special.erf(z[i : i + 1] / math.sqrt(2))) - 1  # 2Φ(z) − 1
        torch.testing.assert_close(images[i : i + 1], nets[int(y[i])](u))
    codes = gen.encode(images, y)  # falls back to the batched inversion
    assert codes.shape == (3, 8)


def test_torchscript_file(tmp_path):
    torch.manual_seed(0)
    net = ScriptableDecoder()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "g.ts"))
    gen = instantiate(_cfg("torchscript", path=str(tmp_path / "g.ts"), latent_dim=8))
    assert gen.has_encoder
    z, y = torch.randn(2, 8), torch.tensor([0, 2])
    with torch.no_grad():
        torch.testing.assert_close(gen.decode(z, y), net(z, y))
        x = torch.rand(2, 3, 16, 16)
        torch.testing.assert_close(gen.encode(x, y), net.encode(x, y))


def test_bad_declarations_are_named(tmp_path):
    with pytest.raises(ImportError, match=r"nowhere\.Net"):
        load_module_generator("nowhere.Net", latent_dim=8, num_classes=3)
    with pytest.raises(ValueError, match="lists 1 files, but 3 networks are needed"):
        load_torchscript_generator([str(tmp_path / "a.ts")], latent_dim=8, num_classes=3, conditioning="per_class")
    with pytest.raises(FileNotFoundError, match=r"g\.ts"):
        load_torchscript_generator(str(tmp_path / "g.ts"), latent_dim=8, num_classes=3)
    with pytest.raises(ValueError, match="high > low"):
        load_module_generator("tests.generators._toy_nets.ToyDecoder", latent_dim=8, num_classes=3,
                              conditioning="per_class", output_range=[1, 0])


# --- the fit check ------------------------------------------------------------------------------


class _Classifier(torch.nn.Module):
    def __init__(self, k: int, shape=(3, 16, 16)):
        super().__init__()
        self.k, self.shape = k, shape

    def forward(self, x):
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expects {self.shape}")
        return x.flatten(1)[:, : self.k]


def _toy(num_classes=3, output_range=(0.0, 1.0), clamp=True):
    torch.manual_seed(0)
    return load_module_generator(
        "tests.generators._toy_nets.ToyConditionalDecoder", latent_dim=8, num_classes=num_classes,
        kwargs={"num_classes": num_classes}, output_range=list(output_range), clamp=clamp,
    )


def test_fit_check_passes_a_fitting_generator():
    check_generator_fits(_toy(), _Classifier(3), num_classes=3, image_shape=(3, 16, 16))


def test_fit_check_names_the_class_count_mismatch():
    with pytest.raises(ValueError, match="generator has 3 classes, the data has 10"):
        check_generator_fits(_toy(), _Classifier(3), num_classes=10, image_shape=(3, 16, 16))
    with pytest.raises(ValueError, match=r"classifier outputs \(2,\) logits.*3 classes"):
        check_generator_fits(_toy(), _Classifier(2), num_classes=3, image_shape=(3, 16, 16))


def test_fit_check_names_the_image_shape_mismatch():
    with pytest.raises(ValueError, match="makes 3×16×16 images, the data has 3×128×128"):
        check_generator_fits(_toy(), _Classifier(3), num_classes=3, image_shape=(3, 128, 128))
    with pytest.raises(ValueError, match="classifier does not take the generator's 3×16×16 images"):
        check_generator_fits(_toy(), _Classifier(3, (3, 32, 32)), num_classes=3)


def test_fit_check_names_the_range_mismatch():
    # a tanh network declared as [0,1] without clamping decodes negative values
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*output_range"):
        check_generator_fits(_toy(clamp=False), _Classifier(3), num_classes=3)
    # a generator declaring a wider range (as PIONEER with clamp=false does) is refused by its declaration
    wide = _toy(output_range=(-1.0, 1.0))
    wide.output_range = (-math.inf, math.inf)
    with pytest.raises(ValueError, match=r"declares images in \[-inf, inf\].*clamp=true"):
        check_generator_fits(wide, _Classifier(3), num_classes=3)
