"""The websd MkDocs plugin: compiles models during `mkdocs build` and embeds playgrounds."""
