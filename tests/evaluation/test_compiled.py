"""``evaluation.compile``: a compiled classifier gives the attacks the eager classifier's results.

Why these checks: compilation must change the speed of a probe, never its verdicts; the wrapper
must share the classifier's parameters (the attacks freeze them, Lightning moves them) and a
mode that does not exist must be refused before any work, with the valid modes named.
"""

from __future__ import annotations

import pytest
import torch

from robustlens.attacks.pgd import PGD
from robustlens.evaluation.compiled import COMPILE_MODES, CompiledClassifier, CompileError, compile_classifier
from robustlens.models.classifiers import SmallCNN


def _model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(num_classes=10, in_channels=1, mean=[0.5], std=[0.25], hidden=16, channels=4).eval()


def _batch(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def test_none_leaves_the_classifier_alone_and_an_unknown_mode_is_refused() -> None:
    model = _model()
    assert compile_classifier(model, "none") is model
    assert compile_classifier(model, None) is model
    with pytest.raises(CompileError, match="valid: none, default, reduce-overhead, max-autotune"):
        compile_classifier(model, "fast")
    assert COMPILE_MODES[0] == "none"


def test_the_wrapper_shares_the_classifier_parameters_and_feature_layer() -> None:
    model = _model()
    wrapped = compile_classifier(model, "default")
    assert isinstance(wrapped, CompiledClassifier)
    assert [p.data_ptr() for p in wrapped.parameters()] == [p.data_ptr() for p in model.parameters()]
    assert wrapped.penultimate_layer is model.embedding
    assert set(wrapped.state_dict()) == {f"classifier.{k}" for k in model.state_dict()}
    assert not wrapped.training  # the classifier's mode: an attack restores the mode it finds


def _compare_with_eager(mode: str, backend: str) -> None:
    model = _model()
    x, y = _batch()
    index = torch.arange(len(y))
    attack = PGD(0.1, 0.02, 5, early_stop=False)  # fixed-shape steps
    eager = attack(model, x, y, index=index)
    compiled_model = compile_classifier(model, mode, backend)
    torch.testing.assert_close(compiled_model(x), model(x), rtol=1e-5, atol=1e-5)
    compiled = attack(compiled_model, x, y, index=index)
    assert torch.equal(compiled.success, eager.success)
    torch.testing.assert_close(compiled.x_adv, eager.x_adv, rtol=0, atol=1e-5)
    torch.testing.assert_close(compiled.logits, eager.logits, rtol=1e-5, atol=1e-5)


def test_a_failed_compile_names_the_fix() -> None:
    def no_compiler(graph, example_inputs):
        raise RuntimeError("no C++ compiler found\nmore detail")

    wrapped = compile_classifier(_model(), "default", no_compiler)
    with pytest.raises(CompileError, match=r"RuntimeError: no C\+\+ compiler found\); set evaluation\.compile=none"):
        wrapped(_batch()[0])


def test_a_captured_graph_gives_eager_pgd_results() -> None:
    # dynamo's graph capture and AOTAutograd's backward, without code generation: seconds on the CPU
    _compare_with_eager("default", "aot_eager")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_inductor_compiled_pgd_equals_eager_pgd_on_the_cpu(mode: str) -> None:
    # Inductor's C++ kernels on the CPU (reduce-overhead = default there: CUDA graphs need a GPU);
    # minutes on a 2-core machine, hence slow. The CUDA-graph path runs in tests/gpu/.
    _compare_with_eager(mode, "inductor")


def test_an_evaluation_with_an_unknown_compile_mode_stops_before_any_probe(tmp_path) -> None:
    from robustlens.tasks.common import task_wrapper
    from robustlens.tasks.evaluate import evaluate
    from tests.hydra_utils import compose_config

    overrides = ["classifier=small_cnn", "evaluation.compile=fast", "extras.print_config=false", "callbacks=none"]
    with pytest.raises(CompileError, match=r"evaluation\.compile='fast' is not a compile mode"):
        task_wrapper(evaluate)(compose_config("evaluate", overrides, tmp_path))
    assert not (tmp_path / "probes").exists()
