"""A real headless Chromium (Debian's package) driven by Playwright, and what a page did in it."""

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

# No call home: this machine's network is closed, and a test must not depend on the internet.
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError(
            "Debian's chromium is not installed: `make test` installs it (apt-get install chromium)"
        )
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless, no sandbox (as root), a fresh profile; Playwright downloads no browser."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_FLAGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class PageLog:
    """Everything that went wrong on a page, and every URL it asked for."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "requestfailed",
            lambda request: self.errors.append(f"failed: {request.url} {request.failure}"),
        )
        page.on(
            "response",
            lambda response: (
                self.errors.append(f"HTTP {response.status}: {response.url}")
                if response.status >= 400
                else None
            ),
        )
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")
        elif message.type == "warning":
            self.warnings.append(f"console: {message.text}")


# Per chart (Plotly's SVG): the bars and their labels, the drawn lines (as the points of their
# path) and the markers (their y in pixels, down), read from the DOM after drawing.
CHART_MARKS_JS = """
() => Object.fromEntries([...document.querySelectorAll('.chart')].map(chart => {
  const box = (el) => el.getBBox();
  const bars = [...chart.querySelectorAll('.trace.bars .point path')]
    .filter(p => box(p).width > 0 && box(p).height > 0);
  return [chart.id, {
    state: chart.dataset.state,
    note: chart.nextElementSibling ? chart.nextElementSibling.textContent : '',
    bars: bars.length,
    barTexts: [...chart.querySelectorAll('.trace.bars .point text')].map(t => t.textContent),
    lines: [...chart.querySelectorAll('.trace.scatter path.js-line')]
      .map(p => p.getAttribute('d') || '').filter(d => d.length > 1),
    markers: [...chart.querySelectorAll('.trace.scatter .points path.point')]
      .map(p => p.transform.baseVal.consolidate().matrix.f),
    legend: [...chart.querySelectorAll('.legend .legendtext')].map(t => t.textContent),
  }];
}))
"""

ALL_CHARTS_SETTLED_JS = """
() => [...document.querySelectorAll('.chart')]
  .every(chart => ['drawn', 'error'].includes(chart.dataset.state))
"""


async def chart_marks(page: Page, timeout_s: float = 30.0) -> dict[str, dict[str, Any]]:
    """Once every chart is drawn (or failed), what each one shows."""
    await page.wait_for_function(ALL_CHARTS_SETTLED_JS, timeout=timeout_s * 1000)
    marks: dict[str, dict[str, Any]] = await page.evaluate(CHART_MARKS_JS)
    return marks


def line_heights(path: str) -> list[float]:
    """The y coordinates (pixels, down) of the points of an SVG line path ('M x,y L x,y ...')."""
    return [float(y) for y in re.findall(r"[ML][\d.eE+-]+,([\d.eE+-]+)", path)]
