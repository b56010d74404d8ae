"""Clean, noise and LGA predictions of robustlens equal the authors' code's, sample by sample.

Same images (robustlens' class-stratified test subset; their ``MNISTData`` test set at the
same positions), same noise tensor, same latent codes: the published classifiers and WGANs
must then decide identically. Their network runs one image at a time with BatchNorm in
[-1, 1]; robustlens' in batches with InstanceNorm in [0, 1] — identical up to rounding.
"""

from __future__ import annotations

import pytest
import torch

from robustlens.attacks.noise import GaussianNoise
from robustlens.evaluation.latent_probes import LatentAccuracyProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.utils.seeding import SampleRandom, sample_keys

from .conftest import adapters, robustlens_classifier, robustlens_generators

MODES = ("oneepoch", "plain", "conventional", "robust", "both")


def test_same_images_as_their_test_set(reference, mnist_test):
    x, y, index = mnist_test
    theirs = torch.stack([reference.ds.testset[int(i)][0] for i in index])
    labels = torch.tensor([reference.ds.testset[int(i)][1] for i in index])
    assert torch.equal(labels, y)
    torch.testing.assert_close(theirs, 2 * x - 1, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_clean_predictions_identical(reference, mnist_test, models_dir, mode):
    x, y, _ = mnist_test
    ours = robustlens_classifier(models_dir, mode)(x).argmax(dim=1)
    theirs = adapters.predict(reference.classifier(mode), 2 * x - 1)
    assert torch.equal(ours, theirs), f"{int(ours.ne(theirs).sum())} of {len(y)} clean predictions differ"
    assert ours.eq(y).float().mean() > 0.9  # the comparison is on a working classifier


@pytest.mark.parametrize("mode", ["oneepoch", "plain"])
def test_noise_predictions_identical_for_the_same_noise(reference, mnist_test, models_dir, mode):
    """Unclipped N(0, σ²): robustlens' GaussianNoise(clip=False) vs their ``Trainer.accuracy``."""
    x, y, index = mnist_test
    attack = GaussianNoise(sigma=0.4, draws=1, seed=0, clip=False)
    model = robustlens_classifier(models_dir, mode)
    result = attack(model, x, y, index=index)
    noisy = attack.noisy(x, index)[:, 0]
    assert (noisy < 0).any() and (noisy > 1).any()  # unclipped, as the authors'
    ours = model(noisy).argmax(dim=1)
    # the unit noise robustlens drew; their code adds randn·0.8 in [-1,1] = 0.4·randn in [0,1]
    unit = SampleRandom(sample_keys(index, len(y)), 0, "gaussian_noise").randn("noise", (1, *x.shape[1:]))[:, 0]
    torch.testing.assert_close(noisy, x + 0.4 * unit)
    theirs, their_accuracy = adapters.noise_predictions(reference.classifier(mode), 2 * x - 1, y, unit)
    theirs = theirs[:, 0]
    assert torch.equal(ours, theirs), f"{int(ours.ne(theirs).sum())} of {len(y)} noise predictions differ"
    assert torch.equal(result.extra["noise_accuracy"].bool(), ours.eq(y))
    assert their_accuracy == pytest.approx(ours.eq(y).double().mean().item(), abs=1e-12)


def test_lga_predictions_identical_for_the_same_codes(reference, mnist_test, models_dir):
    """LGA: robustlens' codes decoded by both generators, classified by both classifiers."""
    x, y, index = mnist_test
    gen = robustlens_generators(models_dir)
    model = robustlens_classifier(models_dir, "plain")
    probe = LatentAccuracyProbe(source="generation", max_images=0)
    context = ProbeContext(seed=0, generator=gen)
    out = probe.run(model, (x, y, index), context)
    codes = probe.codes((x, y, index), context)
    trainer = reference.classifier("plain")
    theirs_images = torch.empty_like(x)
    for digit in torch.unique(y).tolist():
        rows = y == digit
        theirs_images[rows] = reference.generator(digit).decode(codes[rows])
    with torch.no_grad():
        ours_images = gen.decode(codes, y)
    # float32 convolutions: CPUs with other kernels (AVX2 vs AVX-512/AMX) differ by a few 1e-5
    torch.testing.assert_close(2 * ours_images - 1, theirs_images, rtol=0, atol=2e-4)
    theirs = adapters.predict(trainer, theirs_images)
    assert torch.equal(out.preds, theirs), f"{int(out.preds.ne(theirs).sum())} of {len(y)} LGA predictions differ"
    # and through their whole procedure (AdversarialGenerator with a do-nothing adversary)
    run = adapters.latent_run(reference, [trainer], reference.ref.ml_util.NopAdversary(), labels=y, codes=codes)
    assert torch.equal(run.reconstructed[0], ~out.success)
