"""Routes of the forecast area (mounted at /sales/forecast/)."""

from __future__ import annotations

from django.urls import path

from steelyard.sales.views import forecast as views

urlpatterns = [
    path("", views.forecast_page, name="sales_forecast"),
    path("rows/", views.forecast_rows, name="sales_forecast_rows"),
    path("adjust/", views.forecast_adjust, name="sales_forecast_adjust"),
    path("adjustments/", views.adjustment_list, name="sales_forecast_adjustments"),
    path("snapshots/", views.snapshot_list, name="sales_forecast_snapshots"),
    path("snapshots/take/", views.snapshot_take, name="sales_forecast_snapshot_take"),
    path("snapshots/<int:pk>/", views.snapshot_detail, name="sales_forecast_snapshot"),
    path("accuracy/", views.accuracy_page, name="sales_forecast_accuracy"),
    path("calibration/", views.calibration_page, name="sales_forecast_calibration"),
]
