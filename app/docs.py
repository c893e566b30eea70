"""Swagger UI's static files, served by the app so /docs needs no outside network."""

from __future__ import annotations

from flask import Blueprint
from swagger_ui_bundle import swagger_ui_path

blp = Blueprint(
    "docs_assets", __name__, static_folder=swagger_ui_path, static_url_path="/docs/assets"
)
