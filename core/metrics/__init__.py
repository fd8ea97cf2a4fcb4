"""Every figure the seeds report, one function each (see each module for the equation)."""
from core.metrics.perceptibility import blank_images, fooling_ratio, masked_mean, mean_perceptibility, perceptibility

__all__ = ["blank_images", "fooling_ratio", "masked_mean", "mean_perceptibility", "perceptibility"]
