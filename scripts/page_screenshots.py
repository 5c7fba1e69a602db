"""Screenshots of the search page for the docs: serve an index, search in headless Chromium, save small PNGs.

    python scripts/page_screenshots.py --index DIR --out docs/screenshots --name after \
        --query statins="statins lower LDL cholesterol" --width 1280 --width 420

Each query is searched with explain on and shot at each width (``<name>-<label>-<width>.png``, 256 colours).
It also prints whether the page scrolls sideways at each width.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser_driver import missing_browser, search_on_page, start_chromium  # noqa: E402
from service_server import running_server  # noqa: E402


def save_small_png(png: bytes, path: Path) -> int:
    """Write a screenshot reduced to a 256-colour palette; return its size in bytes."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256).save(path, optimize=True)
    return path.stat().st_size


def shoot(base: str, driver, query: str, width: int, height: int, path: Path) -> None:
    search_on_page(driver, base, query, explain=True, k=3, width=width, height=height)
    time.sleep(0.3)  # let the layout settle
    scroll, client = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    size = save_small_png(driver.get_screenshot_as_png(), path)
    print(f"{path}: {size // 1024} KB; page width {scroll} px in a {client} px viewport"
          + (" (scrolls sideways)" if scroll > client else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, type=Path, help="index folder to serve")
    parser.add_argument("--out", required=True, type=Path, help="folder for the PNGs")
    parser.add_argument("--name", required=True, help="file name prefix, e.g. before or after")
    parser.add_argument("--query", action="append", required=True, metavar="LABEL=TEXT", help="a query to search (repeatable)")
    parser.add_argument("--width", action="append", type=int, metavar="PX", help="viewport widths (default: 1280 and 420)")
    parser.add_argument("--height", type=int, default=900, help="viewport height in px (default: 900)")
    args = parser.parse_args()
    reason = missing_browser()
    if reason:
        sys.exit(f"page_screenshots: error: {reason}")
    queries = [q.partition("=")[::2] for q in args.query]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, running_server(args.index) as base:
        driver = start_chromium(Path(profile))
        try:
            for label, text in queries:
                for width in args.width or [1280, 420]:
                    shoot(base, driver, text, width, args.height, args.out / f"{args.name}-{label}-{width}.png")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
