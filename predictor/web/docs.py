"""`/docs`: Swagger UI served from the assets bundled in the swagger-ui-bundle package (no CDN)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote

from ..errors import NotFound

ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")

# links relative to the page, so the function may sit under any path prefix; "{up}" is "../" when
# the page is asked for as /docs/ (its links then start one folder deeper), else ""
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>MLflow model function - API</title>
  <link rel="stylesheet" href="{up}docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="{up}docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{up}docs/swagger-ui-bundle.js"></script>
  <script src="{up}docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "{up}openapi.json{query}",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      deepLinking: true
    });
  </script>
</body>
</html>
"""


def page(path: str, model: str | None = None) -> str:
    """The Swagger UI page for a request to `path` (/docs or /docs/, under any prefix), showing
    the document of the model named `model` (MODELS), if given."""
    query = "" if model is None else "?model=" + quote(model, safe="")  # nothing left to escape
    return PAGE.replace("{up}", "../" if path.endswith("/") else "").replace("{query}", query)


def asset(name: str) -> tuple[bytes, str]:
    """The bytes and media type of one bundled Swagger UI file."""
    if name not in ASSETS:
        raise NotFound(f"no such documentation asset '{name}'")
    from swagger_ui_bundle import swagger_ui_path

    path = Path(swagger_ui_path) / name
    return path.read_bytes(), mimetypes.guess_type(name)[0] or "application/octet-stream"
