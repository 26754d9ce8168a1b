"""/ is a small page that says where to go: no DEBUG 404 for "View site" or the URL make run prints."""

import importlib

import pytest
from django.test import Client
from django.urls import clear_url_caches

import payme.urls


@pytest.fixture
def urls_for(settings):
    """Reload the root URLconf for an MPESA_ENV (the simulator is mounted at import time)."""

    original = settings.MPESA_ENV

    def reload(env):
        settings.MPESA_ENV = env
        importlib.reload(payme.urls)
        clear_url_caches()

    yield reload
    settings.MPESA_ENV = original
    importlib.reload(payme.urls)
    clear_url_caches()


@pytest.mark.django_db
def test_the_landing_page_points_to_the_admin_the_docs_and_the_simulator(urls_for):
    urls_for("simulator")
    response = Client().get("/")
    html = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert 'href="/admin/"' in html and 'href="/api/docs"' in html
    assert "http://testserver/simulator/daraja/" in html


@pytest.mark.django_db
def test_without_the_simulator_the_landing_page_does_not_mention_it(urls_for):
    urls_for("production")
    html = Client().get("/").content.decode()
    assert 'href="/admin/"' in html and "simulator" not in html.lower()


@pytest.mark.django_db
def test_the_admin_view_site_link_opens_the_landing_page(owner):
    client = Client()
    client.force_login(owner.user)
    assert 'href="/">View site</a>' in client.get("/admin/").content.decode()
    assert Client().get("/").status_code == 200
