"""Routes of the quotes area (mounted at /sales/quotes/)."""

from __future__ import annotations

from django.urls import path

from steelyard.sales.views import quotes as views

urlpatterns = [
    path("", views.quote_list, name="sales_quote_list"),
    path("export.csv", views.quote_export, name="sales_quote_export"),
    path("new/", views.quote_create, name="sales_quote_create"),
    path("<int:pk>/", views.quote_detail, name="sales_quote_detail"),
    path("<int:pk>/pdf/", views.quote_pdf, name="sales_quote_pdf"),
    path("<int:pk>/lines/", views.quote_lines, name="sales_quote_lines"),
    path("<int:pk>/terms/", views.quote_header, name="sales_quote_header"),
    path("<int:pk>/submit/", views.quote_submit, name="sales_quote_submit"),
    path("<int:pk>/withdraw/", views.quote_withdraw, name="sales_quote_withdraw"),
    path("<int:pk>/send/", views.quote_send, name="sales_quote_send"),
    path("<int:pk>/accept/", views.quote_accept, name="sales_quote_accept"),
    path("<int:pk>/reject/", views.quote_reject, name="sales_quote_reject"),
    path("<int:pk>/revise/", views.quote_revise, name="sales_quote_revise"),
]
