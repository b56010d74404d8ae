"""Lightning module that trains robustlens' own generators: a conditional VAE or a WGAN-GP.

Batches are the project's ``(x in [0,1], y, index)``. Which objective runs follows from the
model: a :class:`ConditionalVAE` is trained on its ELBO; any other generator needs a
``critic`` and is trained as a WGAN-GP with manual optimisation (n_critic critic steps per
generator step, gradient penalty λ, Adam(β=(0, 0.9)), lr 1e-4 by default, as in
Gulrajani et al. 2017).

Checkpoints carry their config: networks and optimizers are stored in the hyper-parameters as
plain ``_target_`` dicts, so ``GeneratorModule.load_from_checkpoint(path)`` rebuilds everything
without the Hydra config (and with ``torch.load(weights_only=True)``, which refuses pickled
objects such as ``functools.partial``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import hydra.utils
import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from pydantic import Field
from torch import Tensor, nn

from robustlens.models.generators.base import Generator
from robustlens.models.generators.cvae import ConditionalVAE
from robustlens.models.generators.wgan_gp import gradient_penalty

OptimizerFactory = Callable[..., torch.optim.Optimizer]


def _as_plain(value: Any) -> Any:
    """OmegaConf containers and tuples as plain dicts/lists (checkpoints hold only plain data)."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def _module_from(value: nn.Module | Mapping | None, what: str) -> tuple[nn.Module | None, dict | None]:
    """``(module, config)``: build the module from a ``_target_`` mapping, or read a module's config."""
    value = _as_plain(value)
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        config = dict(value)
        return hydra.utils.instantiate(config), config
    if isinstance(value, nn.Module):
        config = value.config() if hasattr(value, "config") else None
        return value, config
    raise TypeError(f"{what} must be an nn.Module or a `_target_` config mapping, got {type(value).__name__}")


def _optimizer_from(
    value: OptimizerFactory | Mapping | None, default: dict
) -> tuple[OptimizerFactory, dict | None]:
    """``(factory, config)`` from a ``functools.partial``, a ``_partial_`` mapping, or the default."""
    value = _as_plain(value)
    if value is None:
        value = default
    if isinstance(value, Mapping):
        config = {**value, "_partial_": True}
        return hydra.utils.instantiate(config), config
    if isinstance(value, functools.partial):
        target = value.func
        config = {"_target_": f"{target.__module__}.{target.__qualname__}", "_partial_": True,
                  **{k: _as_plain(v) for k, v in value.keywords.items()}}
        return value, config if not value.args else None
    if callable(value):
        return value, None
    raise TypeError("optimizer must be a functools.partial (Hydra `_partial_: true`) or a config mapping")


_VAE_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}
_GAN_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-4, "betas": [0.0, 0.9]}


class GeneratorModule(pl.LightningModule):
    """Trains ``generator`` (a cVAE on its ELBO, or a GAN generator against ``critic``).

    Args:
        generator: the :class:`Generator` to train, or its ``_target_`` config.
        optimizer: factory ``params -> Optimizer`` for the generator (Hydra ``_partial_``);
            default Adam(lr 1e-3) for a VAE, Adam(lr 1e-4, betas (0, 0.9)) for a GAN.
        critic: the critic ``D(x, y)`` (or its config); required for, and only for, GANs.
        critic_optimizer: factory for the critic's optimizer; default as the GAN's.
        beta: weight of the KL term of the ELBO (β-VAE; 1 = the ELBO).
        reconstruction: ``bce`` (Bernoulli likelihood) or ``mse`` (Gaussian, summed squares).
        n_critic: critic steps per generator step (one batch each).
        gp_lambda: weight λ of the gradient penalty.
    """

    def __init__(
        self,
        generator: Generator | Mapping,
        optimizer: OptimizerFactory | Mapping | None = None,
        critic: nn.Module | Mapping | None = None,
        critic_optimizer: OptimizerFactory | Mapping | None = None,
        beta: Annotated[float, Field(ge=0)] = 1.0,
        reconstruction: Literal["bce", "mse"] = "bce",
        n_critic: Annotated[int, Field(ge=1)] = 5,
        gp_lambda: Annotated[float, Field(ge=0)] = 10.0,
    ):
        super().__init__()
        gen, gen_config = _module_from(generator, "generator")
        if not isinstance(gen, Generator):
            raise TypeError(f"generator must be a robustlens Generator, got {type(gen).__name__}")
        crit, critic_config = _module_from(critic, "critic")
        self.generator: Generator = gen
        self.critic: nn.Module | None = crit
        self.is_vae = isinstance(gen, ConditionalVAE)
        if self.is_vae and crit is not None:
            raise ValueError("a ConditionalVAE is trained on its ELBO: remove `critic` from the config")
        if not self.is_vae and crit is None:
            raise ValueError(
                f"{type(gen).__name__} has no encoder to train an ELBO with: it is trained as a WGAN-GP, "
                "so give a `critic` (e.g. robustlens.models.generators.wgan_gp.ConditionalCritic)"
            )
        if reconstruction not in ("bce", "mse"):
            raise ValueError(f"reconstruction must be 'bce' or 'mse', got {reconstruction!r}")
        self.beta, self.reconstruction = float(beta), reconstruction
        self.n_critic, self.gp_lambda = int(n_critic), float(gp_lambda)
        default = _VAE_OPTIMIZER if self.is_vae else _GAN_OPTIMIZER
        self._optimizer, opt_config = _optimizer_from(optimizer, default)
        self._critic_optimizer, critic_opt_config = _optimizer_from(critic_optimizer, _GAN_OPTIMIZER)
        self.automatic_optimization = self.is_vae
        self.save_hyperparameters({
            "generator": gen_config, "optimizer": opt_config, "critic": critic_config,
            "critic_optimizer": critic_opt_config if not self.is_vae else None,
            "beta": self.beta, "reconstruction": reconstruction, "n_critic": self.n_critic,
            "gp_lambda": self.gp_lambda,
        })

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return self.generator.decode(z, y)

    # ---- cVAE -----------------------------------------------------------------------------
    def elbo_terms(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Per-batch means of the reconstruction loss and the KL(q(l|x,y) ‖ N(0, I)), summed over dims."""
        vae: ConditionalVAE = self.generator  # type: ignore[assignment]
        mu, logvar = vae.posterior(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = vae.decode_logits(z, y)
        if self.reconstruction == "bce":
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            rec = (torch.sigmoid(logits) - x).pow(2)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
        return rec.flatten(1).sum(dim=1).mean(), kl.mean()

    def _vae_step(self, batch, stage: str) -> Tensor:
        x, y = batch[0], batch[1]
        rec, kl = self.elbo_terms(x, y)
        loss = rec + self.beta * kl
        self.log_dict({f"{stage}/loss": loss, f"{stage}/reconstruction": rec, f"{stage}/kl": kl},
                      prog_bar=stage == "train", batch_size=x.shape[0], sync_dist=stage != "train")
        return loss

    # ---- WGAN-GP --------------------------------------------------------------------------
    def _fake(self, y: Tensor) -> Tensor:
        z = self.generator.sample_latent(y.shape[0], device=y.device)
        return self.generator.decode(z, y)

    def _gan_step(self, batch, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        opt_g, opt_d = self.optimizers()
        assert self.critic is not None
        # critic step: minimise D(fake) − D(real) + λ·GP (the fake labels follow the real batch)
        with torch.no_grad():
            fake = self._fake(y)
        d_real, d_fake = self.critic(x, y).mean(), self.critic(fake, y).mean()
        gp = gradient_penalty(self.critic, x, fake, y)
        critic_loss = d_fake - d_real + self.gp_lambda * gp
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(critic_loss)
        opt_d.step()
        self.log_dict({"train/critic_loss": critic_loss, "train/wasserstein": d_real - d_fake,
                       "train/gradient_penalty": gp}, prog_bar=True, batch_size=x.shape[0])
        if (batch_idx + 1) % self.n_critic:
            return
        # generator step: maximise D(G(l, y)); the critic's parameters get no gradient
        for p in self.critic.parameters():
            p.requires_grad_(False)
        try:
            gen_loss = -self.critic(self._fake(y), y).mean()
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(gen_loss)
            opt_g.step()
        finally:
            for p in self.critic.parameters():
                p.requires_grad_(True)
        self.log("train/generator_loss", gen_loss, batch_size=x.shape[0])

    # ---- Lightning hooks ------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int):
        if self.is_vae:
            return self._vae_step(batch, "train")
        self._gan_step(batch, batch_idx)
        return None

    def validation_step(self, batch, batch_idx: int) -> None:
        if self.is_vae:
            self._vae_step(batch, "val")
            return
        assert self.critic is not None
        x, y = batch[0], batch[1]
        gap = self.critic(x, y).mean() - self.critic(self._fake(y), y).mean()
        self.log("val/wasserstein", gap, batch_size=x.shape[0], sync_dist=True)

    def configure_optimizers(self):
        opt_g = self._optimizer(self.generator.parameters())
        if self.is_vae:
            return opt_g
        assert self.critic is not None
        return [opt_g, self._critic_optimizer(self.critic.parameters())]
