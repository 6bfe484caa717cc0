"""Headless Chromium with WebGPU on SwiftShader, and a static server, for the browser tests.

The site is served under a sub-path, as GitHub Pages serves a project site, so that every URL
the runtime builds must be relative. The server logs each request, so tests and the benchmark
can count what was fetched.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
SUB_PATH = "/sub/path/"
_BASE_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass
class Request:
    path: str
    status: int
    bytes: int


@dataclass
class StaticServer:
    """`root` served at http://127.0.0.1:PORT/sub/path/."""

    root: Path
    requests: list[Request] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + SUB_PATH

    def fetched(self, suffix: str) -> list[Request]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    def bytes_sent(self) -> int:
        return sum(r.bytes for r in self.requests)


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 (the base class declares it a plain dict)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
    }

    def __init__(self, *args: Any, server_state: StaticServer, **kwargs: Any) -> None:
        self.state = server_state
        super().__init__(*args, directory=str(server_state.root), **kwargs)

    def translate_path(self, path: str) -> str:
        if not path.startswith(SUB_PATH):
            return str(self.state.root / "__outside_the_sub_path__")
        return super().translate_path("/" + path[len(SUB_PATH) :])

    def send_head(self):  # type: ignore[no-untyped-def]
        source = super().send_head()
        if source is None:
            length = 0
        elif hasattr(source, "fileno"):
            length = os.fstat(source.fileno()).st_size
        else:  # a directory listing, in memory
            length = len(source.getbuffer())
        self.state.requests.append(Request(self.path, self._status, length))
        return source

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[StaticServer]:
    state = StaticServer(Path(root))
    handler = functools.partial(_Handler, server_state=state)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state._server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def launch(playwright: Any, webgpu: bool = True, extra_args: tuple[str, ...] = ()) -> Any:
    """Debian's Chromium; WebGPU on SwiftShader needs --enable-unsafe-webgpu headless."""
    args = [*_BASE_ARGS, *(["--enable-unsafe-webgpu"] if webgpu else []), *extra_args]
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


@dataclass
class PageLog:
    """What a page did besides rendering: requests by URL, errors, console messages."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def foreign(self, origin: str) -> list[str]:
        local = (origin + "/", "data:", "blob:")
        return [url for url in self.urls if not url.startswith(local)]


def watch(page: Any) -> PageLog:
    """Record the page's (and its workers') requests, uncaught errors and console output."""
    log = PageLog()
    page.on("request", lambda request: log.urls.append(request.url))
    page.on("pageerror", lambda error: log.errors.append(str(error)))
    page.on("console", lambda message: log.console.append(f"{message.type}: {message.text}"))
    page.on("worker", lambda worker: worker.on("console", lambda m: log.console.append(m.text)))
    return log


def canvas_rgba(page: Any, selector: str = "websd-playground canvas") -> tuple[int, int, bytes]:
    """The pixels of a canvas, as the playground drew them (its intrinsic size, not the CSS one)."""
    width, height, data = page.eval_on_selector(
        selector,
        """canvas => {
            const { width, height } = canvas;
            const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            return [width, height, Array.from(pixels)];
        }""",
    )
    return width, height, bytes(data)


def wait_for_status(
    page: Any, prefix: str, timeout_ms: int, selector: str = "websd-playground"
) -> None:
    """Wait until the playground's status line starts with `prefix`; a timeout shows the line."""
    element = page.locator(selector)
    try:
        page.wait_for_function(
            "([el, prefix]) => el.querySelector('.websd-status').textContent.startsWith(prefix)",
            arg=[element.element_handle(), prefix],
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        shown = element.locator(".websd-status").text_content()
        raise AssertionError(f"status not {prefix!r} after {timeout_ms} ms: {shown!r}") from None
