"""Every figure the seeds report, one function each (see each module for the equation)."""
from core.metrics.perceptibility import fooling_ratio, mean_perceptibility, perceptibility

__all__ = ["fooling_ratio", "mean_perceptibility", "perceptibility"]
