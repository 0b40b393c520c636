"""Training lightweight SR models: typed configs, losses, the trainer (one place owns the step),
checkpoints with exact resume, DDP through torchrun, recipes in configs/."""
