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
                     "ecbsr_m16c64", "span"):
        assert required in names


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
                   ("carn_m", 4), ("ecbsr_m16c64", 2), ("ecbsr_m16c64", 4), ("espcn", 2)]


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
