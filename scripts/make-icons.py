"""Renders adapters/http/static/icons/icon.svg to the PNG sizes the PWA manifest lists, in headless
Chromium (Debian's, through Playwright), so the PNGs are always the SVG's own pixels.

    python scripts/make-icons.py        # rewrites icon-192.png, icon-512.png, maskable-512.png
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parent.parent / "adapters" / "http" / "static" / "icons"


def main() -> None:
    svg = (ICONS / "icon.svg").read_text()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for name, size, pad in (("icon-192.png", 192, 0), ("icon-512.png", 512, 0), ("maskable-512.png", 512, 52)):
            page = browser.new_page(viewport={"width": size, "height": size})
            # Maskable icons keep their content inside the safe zone (the inner 80%).
            page.set_content(
                f"<body style='margin:0;background:#b7410e'><div style='padding:{pad}px'>"
                f"<div style='width:{size - 2 * pad}px;height:{size - 2 * pad}px'>{svg}</div></div></body>"
            )
            page.screenshot(path=str(ICONS / name), omit_background=False)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
