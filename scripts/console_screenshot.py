"""A screenshot of the operator console's preview: a pin rule typed into the page for a query and
previewed side by side (the rules in force, and with the draft), nothing saved.

Drives a real headless Chromium (as ``scripts/demo_screenshots.py``, whose driver and JPEG
writer it reuses) against a running service that has an operator token::

    .venv/bin/shelfrank --set serving.admin_token=TOKEN serve --bundle models/latest --port 8124 &
    .venv/bin/python scripts/console_screenshot.py --url http://127.0.0.1:8124 --token TOKEN \\
        --query 大米 --out docs/screenshots

It pins the query's fifth card (from the service's own search) and writes ``console-preview.jpg``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_screenshots import _driver, _save, _wait


def _type(driver, selector: str, text: str) -> None:
    box = driver.find_element("css selector", selector)
    box.clear()
    box.send_keys(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the operator token (serving.admin_token)")
    parser.add_argument("--query", default="大米")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    page = httpx2.post(f"{args.url}/v1/search", json={"query": args.query, "page_size": 20},
                       timeout=30).json()
    pinned = page["cards"][4]["product_id"]
    driver = _driver(1280, 1400)
    try:
        driver.get(args.url + "/console")
        _wait(driver, "return document.body.dataset.ready === '1'", timeout=60)
        _type(driver, "#token", args.token)
        driver.find_element("css selector", "#login-form button").click()
        _wait(driver, "return !document.getElementById('tabs').hidden")
        _type(driver, "#rule-form input[name=query]", args.query)
        _type(driver, "#rule-form input[name=ids]", str(pinned))
        _type(driver, "#rule-form input[name=reason]", "subsidised for the morning session")
        driver.find_element("id", "rule-preview").click()
        _wait(driver, "return document.body.dataset.previewed")
        time.sleep(0.3)
        _save(driver, args.out, "console-preview")
    finally:
        driver.quit()
    print(f"pinned {pinned} on {args.query!r} -> {args.out / 'console-preview.jpg'}")


if __name__ == "__main__":
    main()
