"""Researcher quick start with the Python client package (clients/python):
estimate, release, a pandas table with margins, a titled plot in a file.

    pip install './clients/python[plot]'
    CTM_BASE_URL=http://127.0.0.1:8080 RESEARCHER_TOKEN=... python3 docs/quickstart/client.py

It spends a little of your privacy budget (the estimate says how much first).
The test suite runs this very file against a real server (tests/client.rs).
"""

import os
import sys

from ctm_stats import BudgetExhausted, Client

api = Client(os.environ.get("CTM_BASE_URL", "http://127.0.0.1:8080"), os.environ["RESEARCHER_TOKEN"])
out = os.environ.get("OUT_DIR", ".")

dims = ["type_of_exploitation", "gender"]
query = {"filters": {"registration_year": {"from": 2015, "to": 2020}},
         "accuracy": {"margin": 30, "confidence": 0.95}}

# 1. Free: what it would cost, how accurate it would be, what it leaves.
est = api.estimate(dims, **query)
print(f"estimate: cost {est.cost} {est.unit}, ±{est.margin_of_error} per cell, "
      f"budget left {est.budget.remaining}")

# 2. The release: charged once (retries reuse its Idempotency-Key), or a typed refusal.
try:
    res = api.counts(dims, **query)
except BudgetExhausted as e:
    sys.exit(f"not enough budget: {e.remaining} left, {e.requested} needed")
print(f"charged {res.charged} {res.budget.unit}, budget left {res.budget.remaining}, "
      f"ledger entry #{res.ledger_seq}")

# 3. A DataFrame: codes, count (missing when suppressed), margin, flags, interval.
df = res.frame()
print(df.to_string(index=False))

# 4. A titled plot with error bars, in a named file.
path = res.plot(os.path.join(out, "client-quickstart.png"),
                title="Victims registered 2015-2020, by type of exploitation and gender")
print(f"plot: {path}")
