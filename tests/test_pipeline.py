"""Pipelines: counter-based determinism, replay, combinators, config errors."""

import json
from collections import Counter

import numpy as np
import pytest

from lightsr.degrade import build_pipeline, load_pipeline, preset_names
from lightsr.errors import ConfigError, LightSRError


def toy(lq, scale=2, gt=None):
    cfg = {"name": "toy", "scale": scale, "lq": lq}
    if gt is not None:
        cfg["gt"] = gt
    return build_pipeline(cfg)


FINAL = {"op": "resize_to_target", "modes": ["area"]}


@pytest.mark.parametrize("name", preset_names())
def test_replay_is_bit_identical_after_a_json_roundtrip(name, photo):
    pipe = load_pipeline(name)
    for index in range(4):
        lr, record = pipe(photo, seed=7, index=index)
        again = json.loads(json.dumps(record))
        assert np.array_equal(pipe.replay(photo, again), lr)
        assert lr.shape == (photo.shape[0] // pipe.scale, photo.shape[1] // pipe.scale, 3)
        assert lr.dtype == np.float32


def test_sample_depends_only_on_seed_and_index(photo):
    a, b = load_pipeline("realesrgan"), load_pipeline("realesrgan")
    forward = [a(photo, seed=3, index=i)[0] for i in range(5)]
    backward = [b(photo, seed=3, index=i)[0] for i in reversed(range(5))][::-1]
    for x, y in zip(forward, backward):
        assert np.array_equal(x, y)
    assert not np.array_equal(forward[0], forward[1])
    assert not np.array_equal(a(photo, seed=4, index=0)[0], forward[0])


def test_epoch_changes_the_draw(photo):
    pipe = load_pipeline("realesrgan")
    r0 = pipe.sample(photo.shape, seed=1, index=0, epoch=0)
    r1 = pipe.sample(photo.shape, seed=1, index=0, epoch=1)
    assert r0["lq"] != r1["lq"]


def test_record_fields(photo):
    record = load_pipeline("bsrgan").sample(photo.shape, seed=2, index=9)
    assert record["pipeline"] == "bsrgan" and record["scale"] == 4
    assert (record["seed"], record["index"], record["epoch"]) == (2, 9, 0)
    assert record["hr_shape"] == [256, 256]
    assert all({"op", "params"} <= set(step) for step in record["lq"])


def test_replay_refuses_a_record_of_another_size(photo):
    record = load_pipeline("bicubic").sample(photo.shape, seed=0, index=0)
    with pytest.raises(LightSRError, match="drawn for a 256x256"):
        load_pipeline("bicubic").replay(photo[:128], record)


def test_maybe_probability():
    pipe = toy([{"maybe": {"op": "clip"}, "p": 0.3}, FINAL])
    hits = sum(len(pipe.sample((32, 32, 3), 0, i)["lq"]) == 2 for i in range(3000))
    assert abs(hits / 3000 - 0.3) < 0.03


def test_one_of_weights():
    pipe = toy([{"one_of": [{"op": "clip", "name": "a"}, {"op": "clip", "name": "b"}], "p": [1, 3]}, FINAL])
    labels = Counter(pipe.sample((32, 32, 3), 0, i)["lq"][0]["label"] for i in range(4000))
    assert abs(labels["b"] / 4000 - 0.75) < 0.025


def test_shuffle_keeps_order_chains_and_is_uniform_over_allowed_orders():
    ops = [{"op": "clip", "name": n} for n in "abcd"]
    pipe = toy([{"shuffle": ops, "keep_order": [[2, 0]]}, FINAL])  # c before a
    orders = Counter("".join(s["label"] for s in pipe.sample((32, 32, 3), 0, i)["lq"][:4]) for i in range(6000))
    assert all(o.index("c") < o.index("a") for o in orders)
    assert len(orders) == 12  # 4! / 2
    counts = np.array(list(orders.values()))
    assert counts.min() > 500 * 0.8 and counts.max() < 500 * 1.2


def test_repeat_draws_each_time():
    pipe = toy([{"repeat": {"op": "gaussian_noise", "sigma": [1, 30]}, "times": 3}, FINAL])
    steps = pipe.sample((32, 32, 3), 0, 0)["lq"]
    sigmas = [s["params"]["sigma"] for s in steps[:3]]
    assert [s["op"] for s in steps[:3]] == ["gaussian_noise"] * 3 and len(set(sigmas)) == 3


def test_names_label_the_steps():
    pipe = toy({"name": "outer", "sequence": [{"name": "inner", "op": "clip"}, FINAL]})
    assert pipe.sample((8, 8, 3), 0, 0)["lq"][0]["label"] == "outer/inner"


def test_pipeline_must_end_at_the_target_size():
    with pytest.raises(LightSRError, match="resize_to_target"):
        toy([{"op": "clip"}]).sample((32, 32, 3), 0, 0)


def test_gt_ops_must_keep_the_size():
    with pytest.raises(LightSRError, match="gt ops must keep"):
        toy([FINAL], gt=[{"op": "resize", "scale": 0.5}]).sample((32, 32, 3), 0, 0)


@pytest.mark.parametrize("lq,key,message", [
    ([{"op": "blurr"}], "lq[0].op", "unknown op 'blurr'"),
    ([{"op": "gaussian_noise", "sigmaa": 3}], "lq[0].sigmaa", "unknown option"),
    ([{"op": "gaussian_noise", "sigma": [30, 1]}], "lq[0].sigma", "low must not exceed high"),
    ([{"op": "gaussian_noise"}], "lq[0].sigma", "needs this option"),
    ([{"op": "jpeg", "quality": [0, 95]}], "lq[0].quality", ">= 1"),
    ([{"maybe": {"op": "clip"}, "p": 1.5}], "lq[0].p", "probability"),
    ([{"one_of": [{"op": "clip"}], "p": [1, 2]}], "lq[0].p", "expected 1 weights"),
    ([{"shuffle": [{"op": "clip"}], "keep_order": [[0, 3]]}], "lq[0].keep_order", "distinct child indices"),
    ([{"op": "blur", "kernels": {"gauss": {}}}], "lq[0].kernels.gauss", "unknown kernel family"),
    ([{"op": "blur", "kernels": {"aniso": {"sigma_x": 1}}}], "lq[0].kernels.aniso.sigma_y", "missing"),
    ([{"op": "resize", "updown": {"p": [1, 1]}}], "lq[0].updown.p", "expected 3 weights"),
    ([{"op": "clip", "maybe": {}}], "lq[0]", "exactly one of"),
])
def test_config_errors_name_the_key(lq, key, message):
    with pytest.raises(ConfigError) as e:
        toy(lq)
    assert e.value.key == key and message in str(e.value)


def test_unknown_top_level_key_and_unsupported_scale():
    with pytest.raises(ConfigError, match="lqq"):
        build_pipeline({"lq": [FINAL], "lqq": []})
    with pytest.raises(ConfigError, match="defined for scale 4"):
        load_pipeline("bsrgan", scale=2)


def test_numbers_may_use_pi():
    pipe = toy([{"op": "blur", "size": 7, "kernels": {"aniso": {"sigma_x": 1, "sigma_y": 2, "theta": "pi/3"}}}, FINAL])
    assert pipe.sample((16, 16, 3), 0, 0)["lq"][0]["params"]["theta"] == pytest.approx(np.pi / 3)


def test_seed_must_be_a_non_negative_integer(photo):
    with pytest.raises(LightSRError, match="seed"):
        load_pipeline("bicubic")(photo, seed=-1, index=0)
