"""Models that ship with websd."""
