"""/api/docs/ is served whole by this service: Swagger UI's pinned assets, no other origin."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


class _References(HTMLParser):
    """Every URL the page makes the browser load: script src, link href, img src..."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append((tag, value))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


@pytest.fixture
def docs_page() -> _References:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = _References()
    page.feed(response.content.decode())
    return page


def test_the_docs_page_references_no_other_origin(docs_page):
    assert docs_page.urls, "the page loads Swagger UI from somewhere"
    for tag, url in docs_page.urls:
        parts = urlsplit(url)
        # No scheme, no host ("//cdn..." would be another origin too): this service's paths.
        assert not parts.scheme and not parts.netloc, (tag, url)
        assert url.startswith("/"), (tag, url)
    # The inline script that starts Swagger UI fetches the schema from here as well.
    for script in docs_page.inline_scripts:
        assert not re.search(r"""["'](https?:)?//""", script), script
    # Swagger UI's default validator badge is an image from validator.swagger.io.
    assert any('"validatorUrl": null' in script for script in docs_page.inline_scripts)


def test_the_docs_assets_are_served_from_pinned_static_files(docs_page):
    scripts = [url for tag, url in docs_page.urls if tag == "script"]
    styles = [url for tag, url in docs_page.urls if tag == "link"]
    assert any(url.endswith("swagger-ui-bundle.js") for url in scripts), scripts
    assert any(url.endswith("swagger-ui.css") for url in styles), styles
    client = Client()
    for _, url in docs_page.urls:
        assert url.startswith("/static/drf_spectacular_sidecar/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 0, url
