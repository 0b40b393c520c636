"""The torch.compile switch of the batched appliers: when it compiles, and that a compiler failure
falls back to the eager function (the compiled results themselves are checked by the CUDA parity
tests, where compiling is the default, and by `LIGHTSR_COMPILE=1 pytest tests/test_batched.py`)."""

import warnings

import pytest
import torch

from lightsr.degrade.batched import compiled


def test_compiling_is_on_for_cuda_by_default_and_the_variable_decides(monkeypatch):
    monkeypatch.delenv("LIGHTSR_COMPILE", raising=False)
    assert compiled.compile_wanted(torch.device("cuda")) and not compiled.compile_wanted(torch.device("cpu"))
    monkeypatch.setenv("LIGHTSR_COMPILE", "1")
    assert compiled.compile_wanted(torch.device("cpu"))
    monkeypatch.setenv("LIGHTSR_COMPILE", "0")
    assert not compiled.compile_wanted(torch.device("cuda"))


def test_a_failing_compiler_falls_back_to_the_eager_function(monkeypatch):
    calls = []

    def broken_compile(fn, **kwargs):
        def run(*args):
            calls.append("compiled")
            raise RuntimeError("no compiler here")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setenv("LIGHTSR_COMPILE", "1")
    double = compiled.maybe_compiled(lambda x: x * 2)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        assert torch.equal(double(torch.arange(3)), torch.tensor([0, 2, 4]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second attempt, no second warning
        assert torch.equal(double(torch.arange(2)), torch.tensor([0, 2]))
    assert calls == ["compiled"]


def test_off_means_torch_compile_is_never_called(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: pytest.fail("compiled although switched off"))
    monkeypatch.setenv("LIGHTSR_COMPILE", "0")
    assert torch.equal(compiled.maybe_compiled(lambda x: x + 1)(torch.zeros(2)), torch.ones(2))
