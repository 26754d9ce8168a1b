"""A bad ?cursor= or ?page= is bad input (400, the parameter named), never a 404 or a 500."""

import base64

import pytest

from tests.conftest import client_for, error_of
from wallet.services import wallet_credit


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BAD_CURSORS = [
    "not-a-cursor", "\u00e9", _cursor("o=-1"), _cursor("o=x"), _cursor("r=x"),
    _cursor("p=abc"), _cursor("p=99999999999999999999999"), _cursor("p=2026-13-45"), _cursor("p="),
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/sales", "/api/wallet/entries"])
@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_bad_cursor_is_400_naming_the_cursor(owner, path, cursor):
    wallet_credit(business=owner.business, tokens=1, cause="adjustment", reference="r1")
    response = client_for(owner).get(path, {"cursor": cursor})
    assert response.status_code == 400, (cursor, response.content)
    assert error_of(response) == {
        "code": "invalid",
        "message": "Some fields are not valid: cursor.",
        "fields": {"cursor": ["Not a cursor from this list: follow `next` or `previous` as given."]},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/sales", "/api/wallet/entries"])
def test_good_cursors_still_walk_the_list(owner, path):
    for i in range(25):
        wallet_credit(business=owner.business, tokens=1, cause="adjustment", reference=f"r{i}")
    api = client_for(owner)
    first = api.get(path).json()
    if first["next"]:
        assert api.get(first["next"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["abc", "0", "-1", "99"])
@pytest.mark.parametrize("path", ["/api/products", "/api/wallet-payment"])
def test_a_bad_page_is_400_naming_the_page(owner, path, page):
    response = client_for(owner).get(path, {"page": page})
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"page": ["No such page: a page number from 1 to the last page."]}


@pytest.mark.django_db
def test_page_one_of_an_empty_list_is_fine(owner):
    assert client_for(owner).get("/api/products", {"page": 1}).status_code == 200
