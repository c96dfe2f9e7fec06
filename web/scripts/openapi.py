"""Write the API's OpenAPI document to web/openapi.json for type generation.

Run from the repository root with the project's virtualenv:
`.venv/bin/python web/scripts/openapi.py`. Importing the app builds it without
starting Ray or touching any database.
"""

from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from serve_app.app import app  # noqa: E402

out = ROOT / "web" / "openapi.json"
text = json.dumps(app.openapi(), indent=1, sort_keys=True) + "\n"
# Rewritten only when the API changed, so that its mtime tells make whether the
# client's types (and so the bundle) need rebuilding.
if not out.exists() or out.read_text() != text:
    out.write_text(text)
    print(f"wrote {out.relative_to(ROOT)}")
