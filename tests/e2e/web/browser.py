"""Drives headless Chromium for the web page's end-to-end test (tests/e2e/web.rs).

Reads one JSON command per line on stdin and answers one JSON line on stdout:
{"ok": true, "value": ...} or {"ok": false, "error": "..."}. Every wait is bounded by
--patience seconds; nothing sleeps for a fixed time.

Commands: open URL · click CSS · type CSS TEXT · select CSS VALUE · text CSS ·
wait_text CSS TEXT (until the element's text contains TEXT; returns it) · wait_visible CSS ·
eval JS (returns its value) · wait_js JS (until it returns something truthy) ·
screenshot PATH · quit.
"""

import argparse
import json
import sys

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def browser(chromium, chromedriver):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1500,1100", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


# The page redraws its lists as news comes in: an element found a moment ago may be gone.
TRANSIENT = (NoSuchElementException, StaleElementReferenceException,
             ElementNotInteractableException, ElementClickInterceptedException)


def run(driver, command, patience):
    wait = WebDriverWait(driver, patience, poll_frequency=0.05, ignored_exceptions=TRANSIENT)
    find = lambda css: driver.find_element(By.CSS_SELECTOR, css)

    def click(css):
        element = find(css)
        if not (element.is_displayed() and element.is_enabled()):
            return False
        element.click()
        return True

    def type_into(css, text):
        element = find(css)
        element.clear()
        element.send_keys(text)
        return True
    do = command["do"]
    if do == "open":
        driver.get(command["url"])
    elif do == "click":
        wait.until(lambda d: click(command["css"]), message=f"{command['css']} to click")
    elif do == "type":
        wait.until(lambda d: type_into(command["css"], command["text"]),
                   message=f"{command['css']} to type into")
    elif do == "select":
        driver.execute_script(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1];",
            command["css"], command["value"])
    elif do == "text":
        return find(command["css"]).text
    elif do == "wait_text":
        content = lambda d: d.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            command["css"])
        wait.until(lambda d: command["text"] in content(d),
                   message=f"{command['css']} to show {command['text']!r}")
        return content(driver)
    elif do == "wait_visible":
        wait.until(lambda d: find(command["css"]).is_displayed(),
                   message=f"{command['css']} to show")
    elif do == "eval":
        return driver.execute_script(command["js"])
    elif do == "wait_js":
        return wait.until(lambda d: d.execute_script(command["js"]), message=command["js"])
    elif do == "screenshot":
        # The whole page, not only the window's first screenful.
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1500, max(1100, height + 140))
        driver.save_screenshot(command["path"])
    else:
        raise ValueError(f"unknown command {do!r}")
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--patience", type=float, default=60)
    args = parser.parse_args()
    driver = browser(args.chromium, args.chromedriver)
    try:
        print(json.dumps({"ok": True, "value": "ready"}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command["do"] == "quit":
                break
            try:
                answer = {"ok": True, "value": run(driver, command, args.patience)}
            except (WebDriverException, ValueError, KeyError) as e:
                answer = {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
            print(json.dumps(answer), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
