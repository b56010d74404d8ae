"""GeneratorModule: ELBO/WGAN-GP training under a Lightning Trainer, checkpoints that rebuild."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from robustlens.models.generator_module import GeneratorModule
from robustlens.models.generators.cvae import ConditionalVAE
from robustlens.models.generators.wgan_gp import ConditionalCritic, ConditionalWGANGenerator


def _loader(digits28: tuple[Tensor, Tensor], batch_size: int = 64) -> DataLoader:
    x, y = digits28
    dataset = TensorDataset(x, y, torch.arange(len(y)))  # the project's (x, y, index) batches
    order = torch.Generator().manual_seed(0)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=order)


def _trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                      **kwargs)


class _LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def test_cvae_elbo_is_finite_and_decreases(digits28, tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = GeneratorModule(ConditionalVAE(latent_dim=8, hidden=(128,)),
                             optimizer=functools.partial(torch.optim.Adam, lr=1e-3))
    recorder = _LossRecorder()
    _trainer(tmp_path, max_steps=100, callbacks=[recorder]).fit(module, _loader(digits28))
    losses = recorder.losses
    assert len(losses) == 100 and all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    # BCE summed over 784 pixels starts near 784·ln2 ≈ 543; 100 steps must cut it clearly
    print(f"cVAE loss: first 10 steps {first:.1f}, last 10 steps {last:.1f}")
    assert last < 0.8 * first, (first, last)


def test_elbo_terms_match_their_definitions() -> None:
    torch.manual_seed(0)
    vae = ConditionalVAE(latent_dim=3, image_shape=(1, 4, 4), hidden=(8,))
    module = GeneratorModule(vae, beta=1.0)
    x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 3, 4])
    mu, logvar = vae.posterior(x, y)
    # KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (σ² + μ² − 1 − log σ²), averaged over the batch
    kl_expected = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1).mean()
    torch.manual_seed(1)
    rec, kl = module.elbo_terms(x, y)
    assert kl.item() == pytest.approx(kl_expected.item(), rel=1e-5)
    torch.manual_seed(1)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    p = vae.decode(z, y)
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(dim=1).mean()
    assert rec.item() == pytest.approx(bce.item(), rel=1e-4)


def test_wgan_gp_trains_both_networks_with_finite_losses(digits28, tmp_path: Path) -> None:
    torch.manual_seed(0)
    gen, critic = ConditionalWGANGenerator(latent_dim=16, channels=16), ConditionalCritic(channels=16)
    before_g = [p.detach().clone() for p in gen.parameters()]
    before_d = [p.detach().clone() for p in critic.parameters()]
    module = GeneratorModule(gen, critic=critic, n_critic=2)
    assert not module.automatic_optimization
    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=6, limit_val_batches=1)
    trainer.fit(module, _loader(digits28, 32), _loader(digits28, 32))
    metrics = trainer.callback_metrics
    for key in ("train/critic_loss", "train/gradient_penalty", "train/generator_loss", "val/wasserstein"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    assert any(not torch.equal(a, b) for a, b in zip(before_g, gen.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, critic.parameters(), strict=True))
    # Gulrajani et al. defaults: Adam(lr 1e-4, betas (0, 0.9)) for both
    for opt in trainer.optimizers:
        assert opt.defaults["lr"] == 1e-4 and tuple(opt.defaults["betas"]) == (0.0, 0.9)


def test_generator_steps_once_per_n_critic_batches(digits28, tmp_path: Path) -> None:
    torch.manual_seed(0)
    gen, critic = ConditionalWGANGenerator(latent_dim=8, channels=8), ConditionalCritic(channels=8)
    module = GeneratorModule(gen, critic=critic, n_critic=3)
    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=6, limit_val_batches=0)
    trainer.fit(module, _loader(digits28, 16))
    opt_g, opt_d = trainer.optimizers
    steps = [max((s["step"] for s in o.state.values()), default=0) for o in (opt_g, opt_d)]
    assert [float(s) for s in steps] == [2.0, 6.0]


@pytest.mark.parametrize("kind", ["cvae", "wgan"])
def test_checkpoint_reload_reproduces_decode(kind: str, digits28, tmp_path: Path) -> None:
    torch.manual_seed(0)
    if kind == "cvae":
        module = GeneratorModule(ConditionalVAE(latent_dim=8, hidden=(64,)), beta=0.5, reconstruction="mse",
                                 optimizer=functools.partial(torch.optim.Adam, lr=2e-3))
    else:
        module = GeneratorModule(ConditionalWGANGenerator(latent_dim=8, channels=8),
                                 critic=ConditionalCritic(channels=8), n_critic=1)
    trainer = _trainer(tmp_path, max_steps=3, limit_val_batches=0)
    trainer.fit(module, _loader(digits28, 32))
    path = tmp_path / "gen.ckpt"
    trainer.save_checkpoint(path)
    # no arguments: the checkpoint's hyper-parameters rebuild networks and optimizer factories
    reloaded = GeneratorModule.load_from_checkpoint(path)
    z, y = torch.randn(6, 8), torch.arange(6)
    module.eval()
    reloaded.eval()
    with torch.no_grad():
        assert torch.equal(module.generator.decode(z, y), reloaded.generator.decode(z, y))
    assert reloaded.hparams["beta"] == module.hparams["beta"]
    assert reloaded.hparams["generator"]["_target_"].endswith(type(module.generator).__name__)


def test_misconfigurations_name_the_fix() -> None:
    with pytest.raises(ValueError, match="critic"):
        GeneratorModule(ConditionalWGANGenerator(latent_dim=4))
    with pytest.raises(ValueError, match="remove `critic`"):
        GeneratorModule(ConditionalVAE(), critic=ConditionalCritic())
    with pytest.raises(TypeError, match="Generator"):
        GeneratorModule(torch.nn.Linear(2, 2))


def test_configs_build_the_module() -> None:
    """The Hydra form: networks and `_partial_` optimizers as `_target_` mappings."""
    module = GeneratorModule(
        generator={"_target_": "robustlens.models.generators.cvae.ConditionalVAE", "latent_dim": 4},
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
    )
    assert isinstance(module.generator, ConditionalVAE) and module.generator.latent_dim == 4
    assert isinstance(module.configure_optimizers(), torch.optim.SGD)


def test_hydra_instantiates_the_gan_module_from_yaml_shaped_config() -> None:
    """What the lead's conf/task/generator.yaml produces: recursive instantiation, `_partial_` optimizers."""
    import hydra
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({
        "_target_": "robustlens.models.generator_module.GeneratorModule",
        "generator": OmegaConf.load(Path(__file__).resolve().parents[2] / "conf/generator/wgan_gp.yaml"),
        "critic": {"_target_": "robustlens.models.generators.wgan_gp.ConditionalCritic", "channels": 8},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-4, "betas": [0.5, 0.9]},
        "critic_optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 3e-4,
                             "betas": [0.0, 0.9]},
        "n_critic": 5,
        "gp_lambda": 10.0,
    })
    root = OmegaConf.create({"data": {"num_classes": 10}, "module": cfg})  # as composed: ${data.num_classes}
    module = hydra.utils.instantiate(root.module)
    opt_g, opt_d = module.configure_optimizers()
    assert opt_g.defaults["lr"] == 2e-4 and opt_d.defaults["lr"] == 3e-4
    assert module.hparams["optimizer"] == {"_target_": "torch.optim.adam.Adam", "_partial_": True, "lr": 2e-4,
                                           "betas": [0.5, 0.9]}
    assert type(module.hparams["optimizer"]["betas"]) is list  # plain data, loadable with weights_only
    assert module.hparams["critic"]["channels"] == 8
