"""Importers: one per model part, each turning a torch module into one Relax function."""
