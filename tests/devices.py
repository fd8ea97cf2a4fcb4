"""The devices the property tests run on: the CPU, and CUDA where the machine has it, so that a
GPU machine tests the GPU path too (nothing is skipped where it has none)."""
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
