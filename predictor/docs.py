"""`/docs`: Swagger UI served from the assets bundled in the swagger-ui-bundle package (no CDN)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from .errors import NotFound

ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>MLflow model function - API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "openapi.json",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      deepLinking: true
    });
  </script>
</body>
</html>
"""


def asset(name: str) -> tuple[bytes, str]:
    """The bytes and media type of one bundled Swagger UI file."""
    if name not in ASSETS:
        raise NotFound(f"no such documentation asset '{name}'")
    from swagger_ui_bundle import swagger_ui_path

    path = Path(swagger_ui_path) / name
    return path.read_bytes(), mimetypes.guess_type(name)[0] or "application/octet-stream"
