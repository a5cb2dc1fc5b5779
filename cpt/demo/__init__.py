"""The end-to-end demo on a real small model: SmolLM2-135M-Instruct, SOTU (general) and ScanCode
license texts (legal). ``model`` provides the base model directory, ``corpora`` the JSONL.zst
corpora; ``python -m cpt.demo`` (``__main__``) runs the whole pipeline."""
