"""Researcher quick start: estimate a grouped count, release it, read its
margins of error, and plot it.

    pip install requests pandas matplotlib
    BASE_URL=http://127.0.0.1:8080 RESEARCHER_TOKEN=... python3 researcher.py

It spends a little of your privacy budget (the estimate says how much first).
The test suite runs this very file against a real server.
"""

import os
import sys
import uuid

import matplotlib
import pandas as pd
import requests

matplotlib.use("Agg")  # draw to a file; no display needed
import matplotlib.pyplot as plt  # noqa: E402

BASE = os.environ.get("BASE_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ["RESEARCHER_TOKEN"]
OUT = os.environ.get("OUT_DIR", ".")

api = requests.Session()
api.headers["Authorization"] = f"Bearer {TOKEN}"


def call(method, path, **kwargs):
    """One API call; a refusal (problem+json) stops the script with its code and message."""
    r = api.request(method, BASE + path, timeout=30, **kwargs)
    if r.status_code >= 400:
        problem = r.json()
        sys.exit(f"refused: {problem['code']}: {problem['detail']}")
    return r


# 1. What may I ask? The catalog is public: dimensions, their values, costs.
catalog = requests.get(BASE + "/v1/catalog", timeout=30).json()["datasets"][0]
print("dimensions:", ", ".join(d["name"] for d in catalog["dimensions"]))

# 2. Estimate first: the cost of a margin of ±30 per cell (95 % confidence), and what it leaves.
query = {
    "dimensions": ["type_of_exploitation", "gender"],
    "filters": {"registration_year": {"from": 2015, "to": 2020}},
    "accuracy": {"margin": 30, "confidence": 0.95},
}
est = call("POST", "/v1/counts/estimate", json=query).json()
print(
    f"estimate: cost {est['cost']} {est['unit']}, ±{est['margin_of_error']} per cell "
    f"at {est['confidence']:.0%} confidence, budget left {est['budget']['remaining']}"
)
if not est["affordable"]:
    sys.exit("not enough budget left for this query")

# 3. Release. The Idempotency-Key makes a retry safe: it replays, never charges twice.
res = call("POST", "/v1/counts", json=query, headers={"Idempotency-Key": str(uuid.uuid4())}).json()
print(f"charged {res['charged']} {res['budget']['unit']}, budget left {res['budget']['remaining']}, ledger entry #{res['ledger_seq']}")

# 4. A table with its margins. A suppressed cell has no count: it is withheld, not zero.
df = pd.DataFrame(
    [{**c["key"], "count": c["count"], "margin": c["margin_of_error"], "suppressed": c["suppressed"]} for c in res["cells"]]
)
df["low"] = (df["count"] - df["margin"]).clip(lower=0)
df["high"] = df["count"] + df["margin"]
print(df.to_string(index=False))

# 5. A plot of the released cells with their error bars; the suppressed ones are named, not drawn.
shown = df[~df["suppressed"]].copy()
shown["label"] = shown["type_of_exploitation"] + " · " + shown["gender"]
fig, ax = plt.subplots(figsize=(8, 0.35 * len(shown) + 1.5))
ax.barh(shown["label"], shown["count"], xerr=shown["margin"], color="#1d4e89", ecolor="black", capsize=2)
ax.invert_yaxis()
ax.set_xlabel(f"victims registered 2015-2020 (±{res['cells'][0]['margin_of_error']} at {res['confidence']:.0%})")
hidden = df[df["suppressed"]]
if len(hidden):
    ax.set_title(f"{len(hidden)} cells suppressed (fewer than {res['k']} after noise)", fontsize=9)
fig.tight_layout()
path = os.path.join(OUT, "counts.png")
fig.savefig(path, dpi=100)
print(f"plot: {path}")
