"""Data package: the Jinja2 templates of the overlays and pages, shipped inside the wheel."""
