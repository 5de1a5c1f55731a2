"""Order-to-cash routes (mounted at /orders/)."""

from __future__ import annotations

from django.urls import path

from steelyard.orders import views

urlpatterns = [
    path("", views.order_list, name="order_list"),
    path("<int:pk>/", views.order_detail, name="order_detail"),
    path("<int:pk>/status/", views.order_status_create, name="order_status_create"),
    path("contracts/", views.contract_list, name="contract_list"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("shipments/", views.shipment_list, name="shipment_list"),
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("payments/", views.payment_list, name="payment_list"),
    path("home/recent/", views.order_home_widget, name="order_home_widget"),
]
