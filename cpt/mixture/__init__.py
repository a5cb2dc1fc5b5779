"""Mixture weights for the sources of a recipe: DoReMi (``cpt.mixture.doremi``,
``python -m cpt.mixture``)."""

from cpt.mixture.doremi import DoReMiConfig, DoReMiResult, doremi, update_weights

__all__ = ["DoReMiConfig", "DoReMiResult", "doremi", "update_weights"]
