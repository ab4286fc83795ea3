"""Screenshots of the demo page as a new user sees it: the homepage at three hours, the
README's searches plus the queries the catalog lacks, and the explanation dialog.

Drives a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, as the
browser tests do) against a running service::

    .venv/bin/shelfrank serve --bundle models/latest &
    .venv/bin/python scripts/demo_screenshots.py --url http://127.0.0.1:8000 --out docs/screenshots

Writes one JPEG per view and ``pages.json``: for each view the status line, the page
title and every card's title, category and badges, so what a screenshot shows can be
read (and diffed) without opening it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HOURS = (9, 15, 21)
QUERIES = ("大米", "cookign oil", "shouji", "平板電腦", "口红", "cordless drill", "电钻", "华为")
CARDS_JS = """
return Array.from(document.querySelectorAll('#shelf .card')).map(c => ({
  product_id: Number(c.dataset.productId),
  text: c.innerText.split('\\n').filter(s => s.trim()).slice(0, 6)}));
"""


def _driver(width: int = 1280, height: int = 1800):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    return driver


def _wait(driver, script: str, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for: {script}")


def _save(driver, out: Path, name: str) -> None:
    """The screenshot as a JPEG (a fifth of the PNG's size, so a set can live in docs/)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image.save(out / f"{name}.jpg", quality=80, optimize=True)


def _record(driver, out: Path, name: str, pages: dict) -> None:
    _save(driver, out, name)
    pages[name] = {"title": driver.find_element("id", "shelf-title").text,
                   "status": driver.find_element("id", "status").text,
                   "cards": driver.execute_script(CARDS_JS)}


RENDERED = ("return document.getElementById('shelf-title').textContent !== ''"
            " || document.getElementById('status').textContent.includes('failed')"
            " || document.getElementById('status').textContent.includes('unavailable')")


def _blank(driver) -> None:
    """Clear the page title so the next render is seen (render() always sets it)."""
    driver.execute_script("document.getElementById('shelf-title').textContent = ''")


def _homepages(driver, out: Path, pages: dict) -> None:
    from selenium.webdriver.support.ui import Select

    for hour in HOURS:
        _blank(driver)
        Select(driver.find_element("id", "hour")).select_by_value(str(hour))
        _wait(driver, RENDERED)
        _record(driver, out, f"homepage-{hour:02d}h", pages)


def _searches(driver, out: Path, pages: dict) -> None:
    for i, query in enumerate(QUERIES):
        box = driver.find_element("id", "query")
        box.clear()
        box.send_keys(query)
        _blank(driver)
        driver.find_element("css selector", "#search-form button").click()
        _wait(driver, RENDERED)
        time.sleep(0.3)  # the status line is written just after the render
        _record(driver, out, f"search-{i + 1}", pages)
        pages[f"search-{i + 1}"]["query"] = query


def _explanation(driver, out: Path, pages: dict) -> None:
    driver.find_element("css selector", "#shelf .card .why-btn").click()
    _wait(driver, "return document.getElementById('why').open")
    time.sleep(0.3)
    _save(driver, out, "explanation")
    pages["explanation"] = {"text": driver.find_element("id", "why").text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--user", type=int, default=None, help="the demo user (default: the page's first)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    driver = _driver()
    pages: dict = {}
    try:
        driver.get(args.url + "/")
        _wait(driver, "return document.body.dataset.ready === '1'", timeout=60)
        if args.user is not None:
            from selenium.webdriver.support.ui import Select
            Select(driver.find_element("id", "user")).select_by_value(str(args.user))
        _homepages(driver, args.out, pages)
        _explanation(driver, args.out, pages)
        driver.find_element("css selector", "#why .close").click()
        _searches(driver, args.out, pages)
    finally:
        driver.quit()
    (args.out / "pages.json").write_text(json.dumps(pages, ensure_ascii=False, indent=1))
    print(f"{len(pages)} views -> {args.out}")


if __name__ == "__main__":
    main()
