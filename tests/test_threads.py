"""CPU thread planning: loader workers one core each, the trainer what is left."""

import torch

from lightsr.threads import plan_cpu_threads


def test_plan_leaves_the_trainer_the_cores_the_workers_do_not_take():
    assert plan_cpu_threads(None, cores=2) == (1, 1)
    assert plan_cpu_threads(None, cores=16) == (15, 1)
    assert plan_cpu_threads(0, cores=2) == (0, 2)
    assert plan_cpu_threads(4, cores=8) == (4, 4)
    assert plan_cpu_threads(3, cores=2) == (3, 1)  # more workers than cores: still one trainer thread
    assert plan_cpu_threads(None, cores=1) == (0, 1)


def test_cpu_trainer_takes_the_planned_or_configured_threads(tmp_path, monkeypatch):
    from lightsr.trainers.config import Config
    from lightsr.trainers.engine import Trainer
    from lightsr.trainers.schema import from_dict

    monkeypatch.setattr("lightsr.threads.available_cores", lambda: 3)
    before = torch.get_num_threads()
    try:
        for threads, workers, want in ((None, 1, 2), (None, 0, 3), (1, 0, 1)):
            cfg = from_dict(Config, {"name": "t", "device": "cpu", "model": {"name": "espcn"}, "threads": threads,
                                     "data": {"workers": workers}, "output_root": str(tmp_path), "tensorboard": False})
            Trainer(cfg, resume=False).close()
            assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)
