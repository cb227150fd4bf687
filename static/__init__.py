"""Data package: JS, CSS and fonts served under /static, shipped inside the wheel."""
