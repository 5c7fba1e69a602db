"""Training: losses, the heterogeneous ensemble teacher, sparse and dense students."""
from .losses import flops, idf_aware_flops, info_nce, kl_distillation, margin_mse, plain_flops_score_space, quadratic_warmup
from .teacher import ensemble, minmax_normalize, read_teacher_file, write_teacher_file

__all__ = [
    "flops", "idf_aware_flops", "info_nce", "kl_distillation", "margin_mse", "plain_flops_score_space", "quadratic_warmup",
    "ensemble", "minmax_normalize", "read_teacher_file", "write_teacher_file",
]
