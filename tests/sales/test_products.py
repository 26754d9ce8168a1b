import pytest

from sales.models import Product, StockMovement
from tests.conftest import client_for, error_of

NEW = {"name": "Unga 2kg", "sku": "UNGA-2KG", "price": 230, "stock": 40}


@pytest.mark.django_db
def test_owner_creates_updates_and_deactivates_products(owner):
    api = client_for(owner)
    created = api.post("/api/products", NEW, format="json")
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("name", "sku", "price", "stock", "is_active")} == {**NEW, "is_active": True}
    pid = body["id"]
    updated = api.patch(f"/api/products/{pid}", {"price": 240, "stock": 35}, format="json").json()
    assert (updated["price"], updated["stock"]) == (240, 35)
    assert list(StockMovement.objects.order_by("id").values_list("reason", "delta", "stock_after")) == [("initial", 40, 40), ("adjust", -5, 35)]
    assert api.delete(f"/api/products/{pid}").status_code == 204
    assert api.get(f"/api/products/{pid}").json()["is_active"] is False


@pytest.mark.django_db
def test_products_filter_by_name_or_sku_and_paginate(owner):
    api = client_for(owner)
    for i in range(25):
        api.post("/api/products", {"name": f"Item {i}", "sku": f"SKU-{i}", "price": 10}, format="json")
    api.post("/api/products", {"name": "Sugar", "sku": "SUG-1", "price": 10}, format="json")
    page = api.get("/api/products").json()
    assert page["count"] == 26 and len(page["results"]) == 20
    assert [p["name"] for p in api.get("/api/products?search=sug").json()["results"]] == ["Sugar"]
    assert [p["sku"] for p in api.get("/api/products?search=SKU-24").json()["results"]] == ["SKU-24"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [({"price": 0}, "price"), ({"price": "x"}, "price"), ({"stock": -1}, "stock"), ({"sku": ""}, "sku"), ({"name": ""}, "name"), ({"sku": "bad sku!"}, "sku")],
)
def test_bad_product_input_writes_nothing(owner, change, field):
    response = client_for(owner).post("/api/products", {**NEW, **change}, format="json")
    assert response.status_code == 400 and field in error_of(response)["fields"]
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_sku_is_unique_per_business_only(owner, make_owner):
    client_for(owner).post("/api/products", NEW, format="json")
    duplicate = client_for(owner).post("/api/products", NEW, format="json")
    assert duplicate.status_code == 400 and error_of(duplicate)["code"] == "sku_taken"
    assert client_for(make_owner()).post("/api/products", NEW, format="json").status_code == 201


@pytest.mark.django_db
def test_cashier_reads_but_cannot_edit_products(owner, cashier):
    pid = client_for(owner).post("/api/products", NEW, format="json").json()["id"]
    api = client_for(cashier)
    assert api.get("/api/products").json()["count"] == 1
    assert api.get(f"/api/products/{pid}").status_code == 200
    assert api.post("/api/products", {**NEW, "sku": "X"}, format="json").status_code == 403
    assert api.patch(f"/api/products/{pid}", {"price": 1}, format="json").status_code == 403
    assert api.delete(f"/api/products/{pid}").status_code == 403
    assert Product.objects.get().price == 230 and Product.objects.get().is_active


@pytest.mark.django_db
def test_another_business_products_are_404(owner, make_owner):
    pid = client_for(owner).post("/api/products", NEW, format="json").json()["id"]
    stranger = client_for(make_owner())
    assert stranger.get(f"/api/products/{pid}").status_code == 404
    assert stranger.patch(f"/api/products/{pid}", {"price": 1}, format="json").status_code == 404
    assert stranger.delete(f"/api/products/{pid}").status_code == 404
    assert stranger.get("/api/products").json()["count"] == 0
    assert Product.objects.get().price == 230 and Product.objects.get().is_active


@pytest.mark.django_db
def test_owner_restocks_in_the_admin_through_stock_movements(owner, make_owner):
    from django.test import Client

    web = Client()
    web.force_login(owner.user)
    response = web.post("/admin/sales/product/add/", {"name": "Sugar", "sku": "SUG", "price": 180, "is_active": "on", "stock_change": 12})
    assert response.status_code == 302, response.content.decode()[:1500]
    product = Product.objects.get()
    assert (product.business, product.stock) == (owner.business, 12)
    web.post(f"/admin/sales/product/{product.pk}/change/", {"name": "Sugar", "sku": "SUG", "price": 180, "is_active": "on", "stock_change": -5})
    refused = web.post(f"/admin/sales/product/{product.pk}/change/", {"name": "Sugar", "sku": "SUG", "price": 180, "is_active": "on", "stock_change": -50})
    assert refused.status_code == 200
    product.refresh_from_db()
    assert product.stock == 7
    assert list(StockMovement.objects.order_by("id").values_list("reason", "delta")) == [("adjust", 12), ("adjust", -5)]
    other = make_owner()
    other_web = Client()
    other_web.force_login(other.user)
    assert other_web.get(f"/admin/sales/product/{product.pk}/change/").status_code == 302


@pytest.mark.django_db
def test_admin_duplicate_sku_is_a_form_error_not_a_crash(owner):
    from django.test import Client

    product_create = __import__("sales.services", fromlist=["product_create"]).product_create
    product_create(business=owner.business, name="Sugar", sku="SUG", price=180)
    web = Client()
    web.force_login(owner.user)
    response = web.post("/admin/sales/product/add/", {"name": "Sugar 2", "sku": "SUG", "price": 100, "is_active": "on"})
    assert response.status_code == 200 and "already exists" in response.content.decode()
    assert Product.objects.count() == 1


SKU_TAKEN = {
    "code": "sku_taken",
    "message": "A product with this SKU already exists (SKUs ignore letter case).",
    "fields": {"sku": ["Already used by another product (letter case does not count)."]},
}


@pytest.mark.django_db
def test_sku_is_unique_ignoring_case_within_a_business(owner, make_owner):
    api = client_for(owner)
    first = api.post("/api/products", {**NEW, "sku": "bread-400"}, format="json")
    assert first.status_code == 201
    twin = api.post("/api/products", {**NEW, "sku": "BREAD-400", "name": "Other"}, format="json")
    assert twin.status_code == 400
    assert error_of(twin) == SKU_TAKEN
    assert list(Product.objects.values_list("sku", flat=True)) == ["bread-400"]
    assert client_for(make_owner()).post("/api/products", {**NEW, "sku": "BREAD-400"}, format="json").status_code == 201


@pytest.mark.django_db
def test_renaming_a_sku_onto_another_ignoring_case_is_refused_and_changes_nothing(owner):
    api = client_for(owner)
    api.post("/api/products", {**NEW, "sku": "MILK-1"}, format="json")
    other = api.post("/api/products", {**NEW, "sku": "UNGA-2", "name": "Unga"}, format="json").json()["id"]
    refused = api.patch(f"/api/products/{other}", {"sku": "milk-1", "name": "Renamed"}, format="json")
    assert refused.status_code == 400
    assert error_of(refused) == SKU_TAKEN
    assert Product.objects.get(public_id=other).sku == "UNGA-2" and Product.objects.get(public_id=other).name == "Unga"
    # Changing only the case of its own SKU is fine.
    assert api.patch(f"/api/products/{other}", {"sku": "unga-2"}, format="json").status_code == 200


@pytest.mark.django_db
def test_the_database_refuses_case_twins_even_past_the_service(owner):
    from django.db import IntegrityError, transaction

    Product.objects.create(business=owner.business, name="A", sku="abc", price=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(business=owner.business, name="B", sku="ABC", price=1)


@pytest.mark.django_db(transaction=True)
def test_migration_renames_existing_case_twins_before_the_constraint(owner):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("sales", "0003_sale_full_description_and_reference")])
    old = executor.loader.project_state([("sales", "0003_sale_full_description_and_reference")]).apps
    OldProduct = old.get_model("sales", "Product")  # noqa: N806
    keep = OldProduct.objects.create(business_id=owner.business.pk, name="A", sku="bread-400", price=1)
    twin = OldProduct.objects.create(business_id=owner.business.pk, name="B", sku="BREAD-400", price=1)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Product.objects.get(pk=keep.pk).sku == "bread-400"
    assert Product.objects.get(pk=twin.pk).sku == f"BREAD-400-{twin.pk}"
