"""The model zoo: shapes, published parameter counts and MACs, re-parameterisation, tiling."""

import math

import pytest
import torch

from lightsr.models import create_model, list_models, model_info
from lightsr.models.complexity import count_macs, count_params, input_size
from lightsr.models.reparameterize import is_reparameterizable, reparameterize
from lightsr.models.tiling import receptive_field, tiled_forward

ALL = [(m.name, s) for m in list_models() for s in m.scales]
FAMILIES_REQUIRED = {"convolution", "residual", "dense", "distillation", "attention", "extremely_lightweight"}


def test_every_survey_family_is_in_the_zoo():
    assert FAMILIES_REQUIRED <= {m.family for m in list_models()}
    names = {m.name for m in list_models()}
    for required in ("fsrcnn", "espcn", "lapsrn", "carn_m", "memnet", "imdn", "rfdn", "rlfn", "pan", "safmn", "esrt",
                     "sesr_m3", "sesr_m5", "sesr_m7", "sesr_m11", "sesr_xl", "xlsr", "abpn", "ecbsr_m4c8", "ecbsr_m4c16",
                     "ecbsr_m16c64", "span", "srcnn", "ghostsr_imdn", "spbp_s", "spbp_m", "spbp_l", "vdsr", "drrn",
                     "drrn_b1u9"):
        assert required in names


def test_every_system_the_survey_names_is_built_or_says_why_not():
    from lightsr.models.unavailable import UNAVAILABLE

    built = {m.name for m in list_models()}
    missing = {u.name: u for u in UNAVAILABLE}
    named = ("srcnn", "ghostsr_imdn", "spbp_s", "vdsr", "drrn_b1u9", "gladsr", "esrn", "memnet", "mcan", "mcan_fast", "mcan_m",
             "mcan_s", "mcan_t", "lkasr", "cfin", "esrt", "pan", "splitsr", "cdfm_mobile", "sesr_m5", "xlsr", "abpn")
    for name in named:
        assert (name in built) != (name in missing), name
    assert all(len(u.reason) > 80 and u.family in FAMILIES_REQUIRED for u in UNAVAILABLE)


@pytest.mark.parametrize("name,scale", ALL)
def test_forward_shape(name, scale):
    info = model_info(name)
    model = create_model(name, scale=scale).eval()
    x = torch.rand(1, info.in_channels, 20, 24)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, info.in_channels, 20 * scale, 24 * scale)
    assert torch.isfinite(y).all()


PUBLISHED = [(m.name, s) for m in list_models() for s, p in m.published.items() if p.params]


@pytest.mark.parametrize("name,scale", PUBLISHED)
def test_parameter_counts_match_the_published_tables_within_2_percent(name, scale):
    info = model_info(name)
    deploy = reparameterize(create_model(name, scale=scale))
    ours = count_params(deploy, info.counted)
    assert abs(ours - info.published[scale].params) / info.published[scale].params < 0.02, (ours, info.published[scale])


# published MACs whose counting convention is the same as ours (convolutions at their own resolution)
SAME_CONVENTION = [("imdn", 2), ("imdn", 4), ("pan", 2), ("pan", 4), ("safmn", 2), ("safmn", 4), ("carn", 4),
                   ("carn_m", 4), ("ecbsr_m16c64", 2), ("ecbsr_m16c64", 4), ("espcn", 2), ("vdsr", 4), ("drrn", 4)]


@pytest.mark.parametrize("name,scale", SAME_CONVENTION)
def test_macs_match_the_published_tables(name, scale):
    info = model_info(name)
    macs = count_macs(lambda: reparameterize(create_model(name, scale=scale)), scale, info.in_channels)
    assert abs(macs - info.published[scale].macs) / info.published[scale].macs < 0.05


def test_fsrcnn_macs_differ_from_the_tables_only_by_the_deconvolution_convention():
    # the tables count the 9x9 deconvolution as a conv over every HR pixel (56 * 81 MACs each)
    for scale in (2, 4):
        h, w = input_size(scale)
        ours = count_macs(lambda: create_model("fsrcnn", scale=scale), scale, 1)
        table_convention = ours - 56 * 81 * h * w + 56 * 81 * (h * scale) * (w * scale)
        assert abs(table_convention - model_info("fsrcnn").published[scale].macs) / 5e9 < 0.1


REPARAM = [m.name for m in list_models() if is_reparameterizable(create_model(m.name, scale=m.scales[0]))]


@pytest.mark.parametrize("name", REPARAM)
def test_reparameterised_form_computes_the_same_function(name):
    info = model_info(name)
    torch.manual_seed(0)
    model = create_model(name, scale=info.scales[-1]).eval()
    with torch.no_grad():  # move the branches away from their initialisation so every branch matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    x = torch.rand(2, info.in_channels, 17, 23)
    with torch.no_grad():
        ref = model(x)
        deploy = reparameterize(model)
        out = deploy(x)
    assert (out - ref).abs().max() < 1e-4
    assert count_params(deploy) < count_params(model)
    assert not any(hasattr(m, "expand") or hasattr(m, "conv1x1_3x3") or hasattr(m, "sk") for m in deploy.modules())


@pytest.mark.parametrize("name", ["espcn", "fsrcnn", "ecbsr_m4c8", "span", "abpn", "xlsr", "sesr_m5", "pan"])
def test_tiled_inference_equals_whole_image_when_the_padding_covers_the_receptive_field(name):
    info = model_info(name)
    scale = info.scales[-1] if name != "pan" else 2
    model = create_model(name, scale=scale).eval()
    pad = receptive_field(model, info.in_channels)
    assert pad is not None and pad < 60
    x = torch.rand(1, info.in_channels, 53, 61)
    with torch.no_grad():
        whole = model(x)
        tiled = tiled_forward(model, x, scale, tile=16, pad=pad)
    # float32 rounding only: 1e-5 of the output's magnitude (untrained SPAN outputs reach ~10)
    assert (tiled - whole).abs().max() < 1e-5 * max(1.0, float(whole.abs().max()))


def test_receptive_field_is_none_for_models_with_global_statistics():
    # IMDN's contrast-aware channel attention pools over the whole image
    assert receptive_field(create_model("imdn", scale=2), 3, sizes=(33,)) is None


def test_unknown_model_and_scale_are_config_errors():
    from lightsr.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown model"):
        create_model("edsr-huge")
    with pytest.raises(ConfigError, match="defined for scale"):
        create_model("lapsrn", scale=3)


def test_matlab_bicubic_pre_upsampling_equals_matlab_imresize():
    import numpy as np

    from lightsr.degrade.resize import imresize_matlab
    from lightsr.models.blocks import MatlabBicubicUp

    x = np.random.default_rng(0).random((1, 1, 13, 17)).astype(np.float32)
    for s in (2, 3, 4):
        out = MatlabBicubicUp(s)(torch.from_numpy(x))[0, 0].numpy()
        assert np.abs(out - imresize_matlab(x[0, 0], s)).max() < 1e-5


def test_lapsrn_supervises_every_level():
    outs = create_model("lapsrn", scale=8).forward_levels(torch.rand(1, 1, 9, 10))
    assert [o.shape[-1] for o in outs] == [20, 40, 80]
    assert math.log2(8) == len(outs)


def test_ghost_features_are_a_one_pixel_shift_of_the_intrinsic_ones():
    from lightsr.models.convolution import GhostConv

    torch.manual_seed(0)
    ghost = GhostConv(8, 6).eval()
    with torch.no_grad():
        ghost.shift.zero_()
        ghost.shift[0, 0, 0, 2] = 1.0  # the top-right neighbour: out[i, j] = in[i - 1, j + 1]
    x = torch.rand(1, 8, 7, 9)
    y = ghost(x)
    intrinsic = ghost.primary(x)
    assert torch.equal(y[:, :3], intrinsic)
    expected = torch.zeros_like(intrinsic)
    expected[:, :, 1:, :-1] = intrinsic[:, :, :-1, 1:]
    assert torch.allclose(y[:, 3:], expected, atol=1e-6)
    ghost.train()
    ghost(x).sum().backward()  # the straight-through estimator reaches the direction weights
    assert ghost.shift.grad is not None and ghost.shift.grad.abs().sum() > 0


@pytest.mark.parametrize("name,last", [("vdsr", "body.38"), ("drrn_b1u9", "exit_conv")])
def test_residual_networks_learn_over_matlab_bicubic(name, last):
    from lightsr.models.blocks import MatlabBicubicUp

    model = create_model(name, scale=3).eval()
    x = torch.rand(1, 1, 11, 13)
    with torch.no_grad():  # a zero last layer leaves exactly the pre-upsampled input
        conv = model.get_submodule(last)
        conv.weight.zero_()
        conv.bias.zero_()
        assert torch.allclose(model(x), MatlabBicubicUp(3)(x), atol=1e-6)


def test_drrn_shares_its_convs_across_units_but_not_its_batchnorms():
    b1u9, b1u25 = create_model("drrn_b1u9", scale=2), create_model("drrn", scale=2)
    assert count_params(b1u9, "weights") == count_params(b1u25, "weights") == 297_216  # recursion adds no conv weights
    convs = [m for m in b1u25.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4  # the entry conv, the shared A and B convs, the exit conv
    assert len(b1u25.norm_a[0]) == 25 and len({id(n) for n in b1u25.norm_a[0]}) == 25
    macs9 = count_macs(lambda: create_model("drrn_b1u9", scale=2), 2, 1)
    macs25 = count_macs(lambda: create_model("drrn", scale=2), 2, 1)
    assert macs25 / macs9 == pytest.approx(50 / 18, rel=0.01)  # 2U convs of 128 -> 128 run (the 1-channel ends are ~free)


def test_mcan_is_one_multi_scale_network():
    x2, x4 = create_model("mcan_t", scale=2).eval(), create_model("mcan_t", scale=4).eval()
    x4.load_state_dict(x2.state_dict(), strict=True)  # the same body with all three upsamplers (as released)
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert x2(x).shape[-1] == 24 and x4(x).shape[-1] == 48
    fast = create_model("mcan_fast", scale=2)
    gate = fast.cell1.cell1.b1.body[3].body[-1]
    assert torch.allclose(gate(torch.tensor([-3.0, 0.0, 1.0])), torch.tensor([-0.75, 0.0, 0.5]))  # x / (|x| + 1)


def test_cfin_counts_both_ways_and_shares_its_ciams():
    model = create_model("cfin", scale=4).eval()
    # the published 699K is torchsummaryX's count; the network holds the gated convs' weights besides
    assert count_params(model, "executed_leaves") == 698_826 and count_params(model) == 3_382_412
    calls = {}
    group = model.conv_trans_2.cnn_block
    for name in ("rb_search1", "trans_block", "trans_block1"):
        getattr(group, name).register_forward_hook(lambda m, i, o, n=name: calls.__setitem__(n, calls.get(n, 0) + 1))
    with torch.no_grad():
        y = model(torch.rand(1, 3, 12, 12))
    assert calls == {"rb_search1": 2, "trans_block": 1, "trans_block1": 1}  # each CIAM serves two CT blocks
    assert torch.isfinite(y).all()


def test_cfin_loads_a_checkpoint_laid_out_like_the_authors(tmp_path):
    from lightsr.models.weights import load_official

    ours = create_model("cfin", scale=2, img_range=255.0)
    state = dict(ours.state_dict())
    for key in [k for k in state if k.endswith("weight_conv")]:  # the authors' gated conv is a Conv2d that keeps its own
        prefix = key[: -len("weight_conv")]                        # (unused) weight and bias, and a bias_conv
        out_ch, in_ch, k, _ = state[key].shape
        state[prefix + "weight"], state[prefix + "bias"] = torch.zeros(out_ch, in_ch, k, k), torch.zeros(out_ch)
        state[prefix + "bias_conv"] = torch.zeros(out_ch)
    path = tmp_path / "model_best_x2.pt"
    torch.save(state, path)
    loaded = load_official("cfin", str(path), scale=2).eval()
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.allclose(loaded(x), ours.eval()(x), atol=1e-5)
