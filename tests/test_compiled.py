"""The torch.compile switch of the batched appliers: when it compiles, and that a compiler failure
falls back to the eager function (the compiled results themselves are checked by the CUDA parity
tests, where compiling is the default, and on the CPU by running tests/test_batched.py inside
``compiled.compiling(True)``, as bench/gpu_check.sh runs them eagerly on CUDA)."""

import warnings

import pytest
import torch

from lightsr.degrade.batched import compiled, scheduler
from lightsr.errors import LightSRError


def test_compiling_is_on_for_cuda_by_default_and_the_argument_decides(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setenv("LIGHTSR_COMPILE", "1")  # no longer read: arguments and config choose
    assert compiled.compile_wanted(cuda) and not compiled.compile_wanted(cpu)
    assert compiled.compile_wanted(cpu, True) and not compiled.compile_wanted(cuda, False)
    with compiled.compiling(True):  # calls that leave it unset follow the enclosing scope
        assert compiled.compile_wanted(cpu)
        with compiled.compiling(None):
            assert compiled.compile_wanted(cpu)
        with compiled.compiling(False):
            assert not compiled.compile_wanted(cuda)
    assert not compiled.compile_wanted(cpu)
    for bad in ("on", 1, "yes"):
        with pytest.raises(LightSRError, match="compile must be 'auto', true or false"):
            compiled.compile_wanted(cpu, bad)


def test_a_failing_compiler_falls_back_to_the_eager_function(monkeypatch):
    calls = []

    def broken_compile(fn, **kwargs):
        def run(*args):
            calls.append("compiled")
            raise RuntimeError("no compiler here")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    double = compiled.maybe_compiled(lambda x: x * 2)
    with compiled.compiling(True):
        with pytest.warns(RuntimeWarning, match="running it eagerly"):
            assert torch.equal(double(torch.arange(3)), torch.tensor([0, 2, 4]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no second attempt, no second warning
            assert torch.equal(double(torch.arange(2)), torch.tensor([0, 2]))
    assert calls == ["compiled"]


def test_off_means_torch_compile_is_never_called(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: pytest.fail("compiled although switched off"))
    with compiled.compiling(False):
        assert torch.equal(compiled.maybe_compiled(lambda x: x + 1)(torch.zeros(2)), torch.ones(2))


def test_apply_records_passes_its_choice_to_the_compiled_chains(monkeypatch):
    from lightsr.degrade.presets import load_pipeline

    seen = []
    monkeypatch.setattr(compiled, "compile_wanted", lambda device, mode=None: seen.append(compiled._mode.get()) or False)
    pipe = load_pipeline("realesrgan")
    hr = torch.rand(2, 3, 32, 32)
    records = [pipe.sample((32, 32, 3), 0, i) for i in range(2)]
    scheduler.apply_records(hr, records, compile=True)
    assert seen and set(seen) == {True}
    seen.clear()
    with compiled.compiling(True):
        scheduler.apply_records(hr, records, compile=False)  # an explicit choice wins over the scope
    assert seen and set(seen) == {False}
