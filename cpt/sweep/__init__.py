"""Small-scale recipe search (``python -m cpt.sweep``): a grid of ordinary cpt.train runs, their
domain gain against general regression, and the recommended recipe for the full run."""
