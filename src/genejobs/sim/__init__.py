"""A paired-end RNA-seq simulator with known truth, independent of the pipeline."""

from genejobs.sim.simulate import SimConfig, SimManifest, simulate

__all__ = ["SimConfig", "SimManifest", "simulate"]
