"""The fixed-shape path (degrade.batched.static): the same results as the dynamic rounds and the
numpy appliers, no host round trip in its device half (run on PyTorch's "meta" device, where
reading a value fails), and a template that depends on the step orders seen, not on the order
of the batches."""

import numpy as np
import pytest
import torch

from lightsr.degrade.batched import graphs, scheduler, static
from lightsr.degrade.pipeline import Pipeline
from lightsr.degrade.presets import load_pipeline
from tests.test_batched import psnr, record


@pytest.fixture(scope="module")
def patches(photo):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(6):
        y, x = rng.integers(0, photo.shape[0] - 64), rng.integers(0, photo.shape[1] - 64)
        out.append(photo[y:y + 64, x:x + 64])
    return torch.from_numpy(np.stack(out).astype(np.float32)).permute(0, 3, 1, 2).contiguous()


def dynamic(hr, records, monkeypatch):
    return scheduler.apply_records(hr, records, static=False)


def run_ragged(hr, records, template=None):
    """The static path, each sample cropped to its own final size."""
    plan = static.plan_batch(records, tuple(hr.shape), template or static.Template())
    lr, _ = static.run_plan(hr, plan.tensors("cpu"), plan.layout)
    return [lr[i, :, :h, :w].permute(1, 2, 0).numpy() for i, (h, w) in enumerate(plan.final_sizes["lq"])]


@pytest.mark.parametrize("preset", ["realesrgan", "bicubic"])
def test_static_path_equals_the_dynamic_rounds_and_the_cpu(patches, preset, monkeypatch):
    pipe = load_pipeline(preset)
    template, scores = static.Template(), []
    for seed in range(3):  # the template grows over the batches; results stay the same
        records = [pipe.sample((64, 64, 3), seed, i) for i in range(len(patches))]
        expected_lr, expected_target = dynamic(patches, records, monkeypatch)
        plan = static.plan_batch(records, tuple(patches.shape), template)
        lr, target = static.run_plan(patches, plan.tensors("cpu"), plan.layout)
        assert torch.equal(lr, expected_lr) and torch.equal(target, expected_target)
        for i, r in enumerate(records):
            cpu_lr, _ = Pipeline.apply(patches[i].permute(1, 2, 0).numpy(), r)
            scores.append(psnr(cpu_lr, lr[i].permute(1, 2, 0).numpy()))
    # every op alone agrees to float rounding (test_batched); chained, a value exactly between two
    # 8-bit levels before a JPEG may round the other way and requantise its whole 8x8 block, which
    # on a 16x16 LR costs a few dB: per sample the JPEG bar, over the batches its 45 dB
    assert min(scores) >= 35 and np.mean(scores) >= 45, scores
    if preset == "realesrgan":
        assert template.slots["gt"] == ["usm"] and len(template.slots["lq"]) >= 11


def test_apply_records_takes_the_static_path_when_asked(patches, monkeypatch):
    pipe = load_pipeline("realesrgan")
    records = [pipe.sample((64, 64, 3), 7, i) for i in range(len(patches))]
    calls = []
    original = static.run_plan
    monkeypatch.setattr(static, "run_plan", lambda *a: calls.append(1) or original(*a))
    expected = dynamic(patches, records, monkeypatch)
    assert not calls
    monkeypatch.setenv("LIGHTSR_STATIC", "1")  # gone: the arguments (the trainer's config) choose
    scheduler.apply_records(patches, records)  # "auto": on the CPU, the dynamic rounds
    assert not calls and not static.wanted(torch.device("cpu")) and static.wanted(torch.device("cuda"))
    ours = scheduler.apply_records(patches, records, static=True)
    assert calls and all(torch.equal(a, b) for a, b in zip(ours, expected))


def test_ops_without_a_fixed_shape_applier_take_the_dynamic_rounds(patches, monkeypatch):
    # BSRGAN decimates (sizes follow the data layout) and shuffles: refused once, then dynamic
    pipe = load_pipeline("bsrgan")
    records = [pipe.sample((64, 64, 3), 0, i) for i in range(len(patches))]
    lr, _ = scheduler.apply_records(patches, records, static=True)
    for i, r in enumerate(records):
        assert psnr(Pipeline.apply(patches[i].permute(1, 2, 0).numpy(), r)[0], lr[i].permute(1, 2, 0).numpy()) >= 45
    with pytest.raises(static.NotStatic):
        static.plan_batch(records, tuple(patches.shape), static.Template())


def test_every_op_through_the_static_path_is_the_numpy_op(patches):
    # mixed ops, sizes and variants in one batch: each sample leaves the others' slots untouched
    cov = [[0.004, 0.001, 0.0], [0.001, 0.003, 0.0005], [0.0, 0.0005, 0.002]]
    steps = [
        [{"op": "blur", "params": {"family": "aniso", "size": 21, "sigma_x": 3.0, "sigma_y": 0.7, "theta": 0.6}},
         {"op": "resize", "params": {"h": 40, "w": 37, "mode": "area", "clip": True}},
         {"op": "jpeg", "params": {"quality": 30, "sampling": "444"}}],
        [{"op": "resize", "params": {"h": 90, "w": 70, "mode": "bicubic", "clip": False}},
         {"op": "gaussian_noise", "params": {"sigma": 25.0, "mode": "gray", "seed": 2**60 + 1, "clip": True, "round": True}}],
        [{"op": "gaussian_noise", "params": {"sigma": 0.0, "mode": "correlated", "cov": cov, "seed": 5, "clip": False,
                                             "round": False}},
         {"op": "usm", "params": {"weight": 0.8, "radius": 6, "threshold": 0}}],
        [{"op": "poisson_noise", "params": {"scale": 2.0, "vals": "auto", "gray": True, "add_to": "input", "seed": 9,
                                            "clip": True, "round": True}},
         {"op": "jpeg", "params": {"quality": 60, "sampling": "420"}}],
        [{"op": "speckle_noise", "params": {"sigma": 20.0, "mode": "color", "seed": 7, "clip": True, "round": False}},
         {"op": "clip", "params": {"low": 0.2, "high": 0.7}}, {"op": "quantize", "params": {"bits": 5}}],
        [{"op": "blur", "params": {"family": "sinc", "size": 13, "omega_c": 1.2}},
         {"op": "jpeg", "params": {"quality": 45, "sampling": "422"}}],
    ]
    records = [record(s, (64, 64)) for s in steps]
    expected = [Pipeline.apply(patches[i].permute(1, 2, 0).numpy(), r)[0] for i, r in enumerate(records)]
    for e, o in zip(expected, run_ragged(patches, records)):
        assert e.shape == o.shape
        assert psnr(e, o) >= 45
        assert np.mean(np.abs(e - o) <= 1e-5) > 0.999  # the same values, rounding flips only


def test_the_device_half_reads_no_value_back(patches):
    # on "meta" tensors nothing has a value: a host round trip (.item(), a Python branch on a
    # tensor, a data-dependent shape) raises, so the run could be captured in a CUDA graph
    pipe = load_pipeline("realesrgan")
    records = [pipe.sample((64, 64, 3), 3, i) for i in range(len(patches))]
    plan = static.plan_batch(records, tuple(patches.shape), static.Template())
    assert plan.capturable
    lr, target = static.run_plan(patches.to("meta"), plan.tensors("meta"), plan.layout)
    assert lr.shape == (6, 3, 16, 16) and target.shape == (6, 3, 64, 64)


def test_fixed_poisson_counts_are_not_captured():
    steps = [[{"op": "poisson_noise", "params": {"scale": 1.0, "vals": 350.0, "gray": False, "add_to": "input",
                                                 "seed": 3, "clip": True, "round": False}}]]
    plan = static.plan_batch([record(s, (8, 8)) for s in steps], (1, 3, 8, 8), static.Template())
    assert not plan.capturable


def test_the_template_is_a_function_of_the_orders_seen():
    pipe = load_pipeline("realesrgan")
    batches = [[pipe.sample((32, 32, 3), s, i) for i in range(24)] for s in range(4)]
    a, b = static.Template(), static.Template()
    for batch in batches:
        static.plan_batch(batch, (24, 3, 32, 32), a)
    for batch in reversed(batches):
        static.plan_batch(batch, (24, 3, 32, 32), b)
    assert a.seen == b.seen and a.slots == b.slots
    for batch in batches:
        for r in batch:
            assert static.embed(a.slots["lq"], [s["op"] for s in r["lq"]]) is not None


def test_supersequences():
    assert static.supersequence(list("abcbdab"), list("bdcaba")) in (list("abdcabdab"), list("abcbdcaba"),
                                                                    list("abdcbdaba"), list("abcdbcdab"))
    assert len(static.supersequence(list("abcbdab"), list("bdcaba"))) == 9  # the textbook pair's SCS length
    seqs = {tuple("xyz"), tuple("xzy"), tuple("yxz")}
    common = static.common_supersequence(seqs)
    assert all(static.embed(common, s) is not None for s in seqs) and len(common) == 5
    assert static.embed(list("abc"), list("ac")) == [0, 2] and static.embed(list("abc"), list("ca")) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graph_replays_equal_the_eager_static_path(patches, monkeypatch):
    pipe = load_pipeline("realesrgan")
    hr = patches.cuda()
    for seed in range(4):  # capture on the first batch of a layout, replays after
        records = [pipe.sample((64, 64, 3), seed, i) for i in range(len(patches))]
        eager = static.apply_static(hr, records, cuda_graphs=False)
        graphed = static.apply_static(hr, records, cuda_graphs=True)
        for e, g in zip(eager, graphed):
            assert psnr(e.cpu().numpy(), g.cpu().numpy()) >= 60


def test_a_slot_without_members_adds_no_variant_and_outputs_are_fresh_tensors(patches):
    jpeg444 = {"op": "jpeg", "params": {"quality": 50, "sampling": "444"}}
    blur = {"op": "blur", "params": {"family": "iso", "size": 7, "sigma": 1.0}}
    template = static.Template()
    static.plan_batch([record([jpeg444]), record([blur])], (2, 3, 96, 96), template)
    static.plan_batch([record([blur]), record([blur])], (2, 3, 96, 96), template)
    jpeg_dims = template.dims["lq"][template.slots["lq"].index("jpeg")]
    assert jpeg_dims == {"s444": 1, "s422": 0, "s420": 0}  # only the samplings samples asked for
    # no gt steps: the target is the HR, as a tensor of its own
    hr = patches[:2].clone()
    lr, target = static.apply_static(hr, [record([blur], (64, 64)), record([blur], (64, 64))])
    assert torch.equal(target, hr) and target.data_ptr() != hr.data_ptr()


def test_gray_poisson_noise_needs_three_channels():
    from lightsr.errors import OpError

    step = {"op": "poisson_noise", "params": {"scale": 1.0, "vals": "auto", "gray": True, "add_to": "input", "seed": 1,
                                              "clip": True, "round": False}}
    with pytest.raises(OpError, match="3 channels"):
        static.apply_static(torch.rand(1, 4, 8, 8), [record([step], (8, 8))])


class _FakeGraph:
    """A stand-in for torch.cuda.CUDAGraph on the CPU: replay re-runs what was captured and writes
    the results into the captured outputs, which is what a graph does with its buffers."""

    captures = 0

    def replay(self):
        for out, new in zip(self.outputs, self.fn()):
            out.copy_(new)


def _fake_cuda(monkeypatch, fail=False):
    class Stream:
        def __init__(self, *a, **k):
            pass

        def wait_stream(self, other):
            pass

    class StreamContext:
        def __init__(self, s):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def capture(graph, fn):
        if fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        _FakeGraph.captures += 1
        graph.fn, graph.outputs = fn, fn()
        return graph.outputs

    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", StreamContext)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a: Stream())
    monkeypatch.setattr(torch.cuda, "set_stream", lambda s: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _FakeGraph)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)
    monkeypatch.setattr(graphs, "_capture", capture)
    monkeypatch.setattr(graphs, "_graphs", type(graphs._graphs)())
    monkeypatch.setattr(graphs, "_failed", type(graphs._failed)())


def test_graph_bookkeeping_with_a_stand_in_for_cuda(patches, monkeypatch):
    # the CUDA-graph logic (capture once per layout, each batch's inputs copied into the captured
    # buffers before a replay, fresh outputs, eviction, fallback) with CUDA's calls stood in for
    pipe = load_pipeline("realesrgan")
    template = static.Template()
    batches = [[pipe.sample((64, 64, 3), s, i) for i in range(len(patches))] for s in range(12)]
    plans = [static.plan_batch(b, tuple(patches.shape), template) for b in batches]
    plans = [static.plan_batch(b, tuple(patches.shape), template) for b in batches]  # settled dims: one layout
    assert len({p.key for p in plans}) == 1
    _fake_cuda(monkeypatch)
    _FakeGraph.captures = 0
    hr = patches.clone()
    for plan in plans[:3]:
        buffers, where = plan.buffers()

        def run(x, tensors, plan=plan):
            return static.run_plan(x, tensors, plan.layout)

        ours = graphs.run_graphed("k", run, hr, buffers, where)
        expected = run(hr, plan.tensors("cpu"))
        assert all(torch.equal(a, b) for a, b in zip(ours, expected))
    assert _FakeGraph.captures == 1
    captured = graphs._graphs["k"]
    pointers = [captured.hr.data_ptr()] + [b.data_ptr() for b in captured.buffers.values()]
    first = graphs.run_graphed("k", run, hr, buffers, where)
    second = graphs.run_graphed("k", run, hr * 0.5, buffers, where)
    assert not torch.equal(first[0], second[0])  # outputs are copies, not the graph's buffers
    # a graph reads fixed addresses: each batch is copied into the captured inputs, never swapped in
    assert pointers == [captured.hr.data_ptr()] + [b.data_ptr() for b in captured.buffers.values()]
    for key in range(graphs._MAX_GRAPHS):  # the least recently used layouts are let go
        graphs.run_graphed(("other", key), run, hr, buffers, where)
        graphs.run_graphed("k", run, hr, buffers, where)
    assert "k" in graphs._graphs and ("other", 0) not in graphs._graphs
    assert len(graphs._graphs) == graphs._MAX_GRAPHS and _FakeGraph.captures == 1 + graphs._MAX_GRAPHS  # "k" kept


def test_apply_plan_keys_graphs_by_layout_and_device(patches, monkeypatch):
    pipe = load_pipeline("realesrgan")
    template = static.Template()
    plans = [static.plan_batch([pipe.sample((64, 64, 3), s, i) for i in range(len(patches))], tuple(patches.shape),
                               template) for s in range(8)]
    _fake_cuda(monkeypatch)
    monkeypatch.setattr(static, "_graphable", lambda hr: True)
    keys, run_graphed = [], graphs.run_graphed
    monkeypatch.setattr(graphs, "run_graphed", lambda key, *a: keys.append(key) or run_graphed(key, *a))
    for plan in plans[-2:]:
        expected = static.run_plan(patches, plan.tensors("cpu"), plan.layout)
        ours = static.apply_plan(patches, plan)
        assert all(torch.equal(a, b) for a, b in zip(ours, expected))
    assert keys == [(p.key, "cpu") for p in plans[-2:]]


def test_a_failed_capture_falls_back_once_with_a_warning(patches, monkeypatch):
    pipe = load_pipeline("bicubic")
    plan = static.plan_batch([pipe.sample((64, 64, 3), 0, i) for i in range(len(patches))], tuple(patches.shape),
                             static.Template())
    buffers, where = plan.buffers()
    _fake_cuda(monkeypatch, fail=True)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        assert graphs.run_graphed("k", lambda x, t: static.run_plan(x, t, plan.layout), patches, buffers, where) is None
    assert graphs.run_graphed("k", None, patches, buffers, where) is None  # not tried again


def test_templates_are_kept_for_the_most_recent_batch_shapes(monkeypatch):
    monkeypatch.setattr(static, "_TEMPLATES", type(static._TEMPLATES)())
    pipe = load_pipeline("bicubic")
    first = static._template(("bicubic", 4, (2, 3, 8, 8)))
    for size in range(16, 16 + 8 * static._MAX_TEMPLATES, 8):
        static.plan_records([pipe.sample((size, size, 3), 0, i) for i in range(2)], (2, 3, size, size))
    assert len(static._TEMPLATES) == static._MAX_TEMPLATES and ("bicubic", 4, (2, 3, 8, 8)) not in static._TEMPLATES
    again = static._template(("bicubic", 4, (2, 3, 8, 8)))
    assert again is not first and static._template(("bicubic", 4, (2, 3, 8, 8))) is again  # kept while used
