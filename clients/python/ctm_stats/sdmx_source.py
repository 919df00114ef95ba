"""An ``sdmx1`` client preconfigured for the service's SDMX REST interface.

The service answers SDMX 2.1 REST under ``/sdmx`` (structures as SDMX-ML,
data as GenericData or StructureSpecificData); this registers it as an
``sdmx1`` source and puts the bearer token in the client's session, so
``client.dataflow()``, ``client.datastructure(...)`` and
``client.data(flow, key=...)`` work as with any statistics office. Needs the
``sdmx`` extra (``pip install 'ctm-stats[sdmx]'``).
"""

from __future__ import annotations

import os
from typing import Any, Optional

#: The service's SDMX REST path, below its base URL.
SDMX_PATH = "/sdmx"
#: The id the source is registered under in sdmx1.
SOURCE_ID = "CTM"


def sdmx_client(base_url: Optional[str] = None, token: Optional[str] = None, **supports: bool) -> Any:
    """An ``sdmx.Client`` for the service at ``base_url`` (default from
    ``CTM_BASE_URL``/``BASE_URL``), sending ``Authorization: Bearer <token>``
    (default ``CTM_TOKEN``; without a token only the public structures read).
    Keyword arguments override what the source is declared to support."""
    try:
        import sdmx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the SDMX client needs sdmx1: pip install 'ctm-stats[sdmx]'") from e
    base_url = (base_url or os.environ.get("CTM_BASE_URL") or os.environ.get("BASE_URL")
                or "http://127.0.0.1:8080").rstrip("/")
    token = token if token is not None else os.environ.get("CTM_TOKEN")
    info = {
        "id": SOURCE_ID,
        "name": "ctm-stats (differentially private counter-trafficking statistics)",
        "url": base_url + SDMX_PATH,
        "supports": {
            "dataflow": True,
            "datastructure": True,
            "codelist": True,
            "conceptscheme": True,
            "preview": True,
            "structure-specific data": True,
            **supports,
        },
    }
    sdmx.add_source(info, override=True)
    client = sdmx.Client(SOURCE_ID)
    if token:
        client.session.headers["Authorization"] = f"Bearer {token}"
    return client
