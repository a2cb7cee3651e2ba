from pathlib import Path

# Airtable's response shapes, kept in the repository so every test runs on a clean clone.
SAMPLES = Path(__file__).resolve().parent / "samples"
