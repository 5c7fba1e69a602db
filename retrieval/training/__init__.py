"""Training: losses, the heterogeneous ensemble teacher, sparse and dense students."""
from .losses import (
    dot_scores, flops, idf_aware_flops, inference_free_query_reps, inference_free_scores, info_nce, kl_distillation, l1,
    margin_mse, margin_mse_candidates, plain_flops_score_space, quadratic_warmup, thresholded_flops,
)
from .teacher import (
    TeacherFile, TeacherRecord, ensemble, ensemble_candidates, make_records, minmax_normalize, read_teacher_file, write_teacher_file,
)

__all__ = [
    "dot_scores", "flops", "idf_aware_flops", "inference_free_query_reps", "inference_free_scores", "info_nce", "kl_distillation", "l1",
    "margin_mse", "margin_mse_candidates", "plain_flops_score_space", "quadratic_warmup", "thresholded_flops",
    "TeacherFile", "TeacherRecord", "ensemble", "ensemble_candidates", "make_records", "minmax_normalize", "read_teacher_file",
    "write_teacher_file",
]
