"""Routes of the pipeline area (mounted at /sales/pipeline/)."""

from __future__ import annotations

from django.urls import path

from steelyard.sales.views import pipeline as views

urlpatterns = [
    path("board/", views.pipeline_board, name="sales_board"),
    path("board/column/", views.pipeline_board_column, name="sales_board_column"),
    path("board/move/", views.pipeline_board_move, name="sales_board_move"),
    path("funnel/", views.pipeline_funnel, name="sales_funnel"),
    path("funnel/deals/", views.pipeline_funnel_drill, name="sales_funnel_drill"),
    path("risks/", views.pipeline_risks, name="sales_risks"),
]
