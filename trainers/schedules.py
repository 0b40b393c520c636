"""Learning-rate schedules as multipliers of the base rate (for torch's LambdaLR)."""

import bisect
import math


def lr_multiplier(cfg, base_lr, total_steps):
    """step -> factor: linear warm-up, then constant, cosine (to ``min_lr``) or multi-step decay."""

    def factor(step):
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.type == "cosine":
            span = max(total_steps - cfg.warmup_steps, 1)
            progress = min((step - cfg.warmup_steps) / span, 1.0)
            floor = cfg.min_lr / base_lr if base_lr > 0 else 0.0
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if cfg.type == "multistep":
            return cfg.gamma ** bisect.bisect_right(sorted(cfg.milestones), step)
        return 1.0

    return factor
