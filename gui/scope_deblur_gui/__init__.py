"""The scope-deblur Qt acquisition GUI (imports the core, never the reverse)."""
