"""Hostile inputs and conditions (issue #14): every failure is one line naming the file, key or op; nothing is
lost or corrupted."""

import pytest


# ---------------------------------------------------------------- jobs and training (weights metadata)


def test_model_metadata_options_are_bounded(tmp_path):
    """A .safetensors whose metadata asks for a huge network is refused before anything is allocated."""
    from safetensors import safe_open
    from safetensors.torch import save

    from lightsr.errors import LightSRError
    from lightsr.models import create_model
    from lightsr.models.weights import load_model, save_model

    good = tmp_path / "espcn.safetensors"
    save_model(create_model("espcn", scale=4), str(good))
    with safe_open(str(good), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    bad = tmp_path / "hostile.safetensors"
    for change, message in (({"options": '{"m": 100000000}'}, r"metadata options\.m = 100000000 is refused"),
                            ({"options": '{"depths": [' + ",".join(["1"] * 1000) + "]}"}, r"metadata options\.depths is refused"),
                            ({"options": "[" * 100000}, "metadata options is not valid JSON"),
                            ({"scale": "100000"}, "metadata scale = 100000 is refused"),
                            ({"options": '{"no_such_option": 3}'}, "metadata does not make a model")):
        bad.write_bytes(save(tensors, metadata={**meta, **change}))
        with pytest.raises(LightSRError, match=f"^{bad}: {message}") as info:
            load_model(str(bad))
        assert "\n" not in str(info.value)
    assert load_model(str(good)).lightsr_spec["name"] == "espcn"
