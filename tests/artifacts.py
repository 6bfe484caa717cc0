"""Where tests keep what outlives a run: inside the checkout, git-ignored, made anew by a fresh
clone. The build cache, npm webgpu, lavapipe (scripts/fetch_lavapipe.sh), screenshots and the
browser tests' measurements."""

from pathlib import Path

ARTIFACTS = Path(__file__).parent / ".artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
