"""Catalogue routes (mounted at /catalog/)."""

from __future__ import annotations

from django.urls import path

from steelyard.catalog import views

urlpatterns = [
    path("", views.product_list, name="catalog_product_list"),
    path("products/new/", views.product_create, name="catalog_product_create"),
    path("products/<int:pk>/", views.product_detail, name="catalog_product_detail"),
    path("products/<int:pk>/edit/", views.product_edit, name="catalog_product_edit"),
    path(
        "products/<int:pk>/deactivate/",
        views.product_set_active,
        {"active": False},
        name="catalog_product_deactivate",
    ),
    path(
        "products/<int:pk>/activate/",
        views.product_set_active,
        {"active": True},
        name="catalog_product_activate",
    ),
    path("lines/", views.product_line_list, name="catalog_line_list"),
    path("lines/new/", views.product_line_create, name="catalog_line_create"),
    path("lines/<int:pk>/", views.product_line_detail, name="catalog_line_detail"),
    path("lines/<int:pk>/edit/", views.product_line_edit, name="catalog_line_edit"),
    path(
        "lines/<int:pk>/deactivate/",
        views.product_line_set_active,
        {"active": False},
        name="catalog_line_deactivate",
    ),
    path(
        "lines/<int:pk>/activate/",
        views.product_line_set_active,
        {"active": True},
        name="catalog_line_activate",
    ),
]
