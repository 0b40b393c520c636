"""ONNX export of a zoo model (deploy form, dynamic height and width) and a parity check."""

import io
import warnings

import numpy as np
import torch

from lightsr.errors import LightSRError
from lightsr.files import atomic_write_bytes
from lightsr.models.reparameterize import reparameterize


def export_onnx(model, path, in_channels=3, opset=18, size=None):
    """Write ``model`` (re-parameterised first) as ONNX; returns the deploy model.

    Height and width are dynamic unless ``size`` = (h, w) fixes them; models whose graph
    depends on the input size in a way ONNX cannot express (SAFMN's adaptive pooling) set
    ``onnx_dynamic_size = False`` and need ``size``.
    """
    if size is None and not getattr(model, "onnx_dynamic_size", True):
        raise LightSRError(f"{type(model).__name__} can only be exported for a fixed input size: give size=(h, w) (--size H W)")
    deploy = reparameterize(model).cpu().float()
    x = torch.rand(1, in_channels, *(size or (32, 32)))
    axes = None if size else {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "height", 3: "width"}}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's notes on constant folding
        torch.onnx.export(deploy, (x,), buf, input_names=["lr"], output_names=["sr"], opset_version=opset,
                          dynamic_axes=axes, dynamo=False)
    atomic_write_bytes(path, buf.getvalue())
    return deploy


def onnx_parity(model, path, in_channels=3, sizes=((37, 45), (64, 48)), seed=0):
    """Largest |PyTorch - onnxruntime| over random inputs of the given sizes."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise LightSRError("the parity check needs onnxruntime: pip install onnxruntime") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    deploy = reparameterize(model).cpu().float().eval()
    for h, w in sizes:
        x = rng.random((1, in_channels, h, w), dtype=np.float32)
        with torch.no_grad():
            ref = deploy(torch.from_numpy(x)).numpy()
        out = session.run(None, {"lr": x})[0]
        if out.shape != ref.shape:
            raise LightSRError(f"{path}: ONNX output {out.shape} differs from PyTorch {ref.shape}")
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst
