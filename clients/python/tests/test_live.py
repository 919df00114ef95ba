"""The client against a real ctm-stats server (tests/client.rs starts one
with ``serve --demo`` and runs this file in a fresh virtual environment
where the package was installed with pip).

Environment: CTM_BASE_URL; RESEARCHER_TOKEN, GOVERNMENT_TOKEN (USA),
REGIONAL_TOKEN (gms), AUDITOR_TOKEN, BROKE_TOKEN (a researcher nobody else
uses, spent to exhaustion here); OUT_DIR for the plots.
"""

import http.server
import json
import os
import threading
import unittest
import urllib.request

import pandas as pd

import ctm_stats
from ctm_stats import BudgetExhausted, Client, Forbidden, InvalidQuery, Retry, Unauthorized

BASE = os.environ["CTM_BASE_URL"]
OUT = os.environ.get("OUT_DIR", ".")
FAST = Retry(attempts=4, base=0.01, cap=0.05)


def client(role, base=BASE, **kw):
    return Client(base, os.environ[f"{role.upper()}_TOKEN"], retry=FAST, **kw)


def is_png(path):
    with open(path, "rb") as f:
        data = f.read()
    return data.startswith(b"\x89PNG") and len(data) > 5000


class FlakyProxy:
    """A proxy in front of the service that answers the first ``POST
    /v1/counts`` with a 503: either before the service sees it (``lose`` False)
    or after the service answered it (``lose`` True: the answer is lost on the
    way back, as when a connection drops). Everything else goes through."""

    def __init__(self, upstream, lose):
        self.upstream, self.lose = upstream, lose
        self.keys, self.statuses = [], []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.forward(None)

            def do_POST(self):
                self.forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def forward(self, body):
                first = self.command == "POST" and self.path == "/v1/counts" and not proxy.keys
                if self.command == "POST" and self.path == "/v1/counts":
                    proxy.keys.append(self.headers.get("Idempotency-Key"))
                if first and not proxy.lose:
                    return self.unavailable()
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command)
                for h in ("Authorization", "Content-Type", "Accept", "Idempotency-Key"):
                    if self.headers.get(h):
                        req.add_header(h, self.headers[h])
                try:
                    r = urllib.request.urlopen(req)
                except urllib.error.HTTPError as e:
                    r = e
                data = r.read()
                if self.command == "POST":
                    proxy.statuses.append(r.status)
                if first:  # the service answered (and charged); the answer is lost
                    return self.unavailable()
                self.send_response(r.status)
                for h in ("Content-Type", "Idempotent-Replayed", "Retry-After"):
                    if r.headers.get(h):
                        self.send_header(h, r.headers[h])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def unavailable(self):
                body = json.dumps({"type": "urn:ctm-stats:problem:service.unavailable", "title": "Service unavailable",
                                   "status": 503, "detail": "proxy says: try again", "code": "service.unavailable"}).encode()
                self.send_response(503)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Researcher(unittest.TestCase):
    def test_estimate_release_frame_and_plot(self):
        api = client("researcher")
        query = dict(filters={"registration_year": {"from": 2015, "to": 2020}},
                     accuracy={"margin": 30, "confidence": 0.95})
        dims = ["type_of_exploitation", "gender"]
        est = api.estimate(dims, **query)
        self.assertGreater(est.cost, 0)
        self.assertLessEqual(est.margin_of_error, 30)
        self.assertTrue(est.affordable)
        before = api.budget().spent
        self.assertEqual(est.budget.spent, before, "an estimate charges nothing")

        res = api.counts(dims, **query)
        self.assertEqual(res.charged, est.cost)
        self.assertAlmostEqual(api.budget().spent - before, est.cost, places=9)
        self.assertTrue(res.idempotency_key.startswith("ctm-py-"))
        self.assertIsInstance(res.ledger_seq, int)

        df = res.frame()
        print(df.head(12).to_string(index=False))
        for col in dims + ["count", "margin_of_error", "suppressed", "low", "high"]:
            self.assertIn(col, df.columns)
        catalog = api.catalog()
        domain = {d["name"]: d["values"] for d in catalog["dimensions"]}
        self.assertEqual(len(df), len(domain["type_of_exploitation"]) * len(domain["gender"]),
                         "one row per cell of the declared domain")
        self.assertEqual(str(df["count"].dtype), "Int64")
        self.assertTrue(df.loc[df["suppressed"], "count"].isna().all(), "a suppressed cell has no count")
        self.assertTrue((df.loc[~df["suppressed"], "count"] >= res.k).all())
        self.assertTrue((df["margin_of_error"] == res.tables[0].cells[0].margin_of_error).all())
        self.assertEqual(df.attrs["query_ids"], {res.tables[0].id: res.query_id})
        for d in dims:
            labels = next(x.get("labels") for x in catalog["dimensions"] if x["name"] == d)
            if labels:  # the catalog's English labels, one per code
                self.assertEqual(df[d + "_label"].tolist(), [labels["en"]["values"][c] for c in df[d]])

        path = res.plot(os.path.join(OUT, "client-counts.png"),
                        title="Victims registered 2015-2020 by exploitation and gender")
        self.assertTrue(is_png(path))
        print("plot:", path)

        again = api.counts(dims, **query)
        self.assertEqual((again.charged, again.repeat), (0, True), "a repeat is free")
        self.assertNotEqual(again.idempotency_key, res.idempotency_key, "a new key per call")

    def test_a_workload_is_one_consistent_release(self):
        api = client("researcher")
        res = api.workload([["gender", "age_broad"], ["gender"]],
                           filters={"registration_year": {"from": 2010, "to": 2020}}, epsilon=0.4)
        self.assertEqual(len(res.tables), 2)
        df = res.frame()
        self.assertEqual(set(df["table"]), {"gender*age_broad", "gender"})
        totals = res.totals()
        if res.consistent:
            self.assertEqual(totals["count"].nunique(dropna=True), 1, "one total for every grouping")

    def test_an_invalid_query_names_its_field(self):
        api = client("researcher")
        before = api.budget().spent
        with self.assertRaises(InvalidQuery) as e:
            api.counts(["not_a_dimension"], epsilon=0.5)
        self.assertEqual((e.exception.status, e.exception.code), (422, "query.unknown_dimension"))
        self.assertEqual(e.exception.field, "dimensions")
        self.assertIn("gender", e.exception.valid_dimensions)
        with self.assertRaises(InvalidQuery) as e:
            api.estimate(["gender"], epsilon=99)
        self.assertEqual((e.exception.code, e.exception.field), ("query.epsilon_out_of_range", "epsilon"))
        self.assertEqual(api.budget().spent, before, "refusals charge nothing")

    def test_a_bad_token_is_unauthorized(self):
        with self.assertRaises(Unauthorized) as e:
            Client(BASE, "not-a-token", retry=FAST).budget()
        self.assertEqual((e.exception.status, e.exception.code), (401, "auth.invalid_token"))

    def test_budget_exhausted_is_typed_and_says_what_is_left(self):
        api = client("broke")
        spent = 0.0
        for dims in (["gender"], ["age_broad"], ["registration_year"], ["type_of_exploitation"], ["gender", "age_broad"]):
            spent += api.counts(dims, epsilon=2.0).charged
        b = api.budget()
        self.assertAlmostEqual(b.spent, spent, places=9)
        with self.assertRaises(BudgetExhausted) as e:
            api.counts(["age_broad", "registration_year"], epsilon=2.0)
        err = e.exception
        self.assertEqual((err.status, err.code), (403, "budget.exhausted"))
        self.assertAlmostEqual(err.remaining, b.remaining, places=9)
        self.assertEqual((err.requested, err.unit), (2.0, b.unit))
        self.assertIsInstance(err, Forbidden)
        self.assertEqual(api.budget().spent, b.spent, "the refusal charged nothing")


class Retries(unittest.TestCase):
    def check_one_charge(self, lose):
        direct = client("researcher")
        with FlakyProxy(BASE, lose=lose) as proxy:
            api = client("researcher", base=proxy.url)
            before = direct.budget()
            res = api.counts(["citizenship"] if lose else ["age_broad", "gender"],
                             filters={"registration_year": {"from": 2012, "to": 2013}}, epsilon=0.3)
        self.assertEqual(len(proxy.keys), 2, "one retry")
        self.assertEqual(proxy.keys[0], proxy.keys[1], "the retry sends the same Idempotency-Key")
        self.assertEqual(len(api.http.waits), 1)
        self.assertEqual(res.replayed, lose, "a lost answer is replayed by the service")
        after = direct.budget()
        self.assertAlmostEqual(after.spent - before.spent, 0.3, places=9, msg="charged once")
        history = list(direct.iter_budget_history())
        charged = [e for e in history if e["event"] == "charge" and e["seq"] == res.ledger_seq]
        self.assertEqual(len(charged), 1, "the release's charge is in your history")
        self.assertAlmostEqual(charged[0]["cost"], 0.3, places=9)
        later = [e for e in history if e["seq"] > res.ledger_seq]
        self.assertFalse([e for e in later if e["event"] == "charge"], "no second charge")
        if lose:
            self.assertEqual([(e["event"], e["cost"]) for e in later], [("replay", 0)],
                             "the retry is a free replay")
        print(f"retry (answer {'lost' if lose else 'refused'}): keys {proxy.keys[0]} x2, "
              f"the service answered {proxy.statuses}, charged {after.spent - before.spent:g} once")

    def test_a_503_before_the_service_retries_and_charges_once(self):
        self.check_one_charge(lose=False)

    def test_a_lost_answer_is_retried_with_its_key_and_charged_once(self):
        self.check_one_charge(lose=True)


class Government(unittest.TestCase):
    def test_national_report_as_frames_and_a_plot(self):
        api = client("government")
        rep = api.national_report("USA", year=2019)
        self.assertEqual((rep.country, rep.from_year, rep.to_year), ("USA", 2019, 2019))
        self.assertGreater(len(rep.tables), 1)
        df = rep.frame()
        self.assertIn("table", df.columns)
        self.assertEqual(set(df["table"]), {t.id for t in rep.tables})
        self.assertEqual(len(df), sum(len(t.cells) for t in rep.tables))
        self.assertTrue(df.loc[df["suppressed"], "count"].isna().all())
        totals = rep.totals()
        print(totals.to_string(index=False))
        if rep.consistent:
            consistent = totals[totals["consistent"]]
            self.assertEqual(consistent["count"].nunique(dropna=True), 1, "one number per question")
        self.assertTrue(is_png(rep.plot(os.path.join(OUT, "client-national.png"), table="by_sex_and_age")))
        again = api.national_report("USA", year=2019)
        self.assertEqual(again.charged, 0, "a repeat is free")
        with self.assertRaises(Forbidden) as e:
            api.national_report("MEX", year=2019)
        self.assertEqual(e.exception.code, "auth.country_scope")

    def test_bilateral_flow(self):
        rep = client("government").bilateral("USA", "MEX", from_year=2015, to_year=2020)
        self.assertEqual(rep.other, "MEX")
        self.assertFalse(rep.frame().empty)

    def test_regional_report(self):
        rep = client("regional").regional_report("gms")
        self.assertEqual(rep.region, "gms")
        self.assertIn("members", rep.raw["region"])
        df = rep.frame()
        self.assertGreater(len(df), 0)
        self.assertEqual(set(df["table"]), {t.id for t in rep.tables})


class Auditor(unittest.TestCase):
    def test_ledger_pages_and_export(self):
        researcher = client("researcher")
        for _ in range(2):  # a charge and a repeat: two entries at least
            researcher.counts(["education"], epsilon=0.1)
        api = client("auditor")
        page = api.ledger_entries(limit=1)
        self.assertEqual(len(page.entries), 1)
        self.assertIsNotNone(page.next_cursor)
        every = list(api.iter_ledger(limit=50))
        self.assertEqual([e["seq"] for e in every], list(range(1, len(every) + 1)), "no gap, no repeat")
        self.assertIn("event", page.frame().columns)
        path = os.path.join(OUT, "ledger.ndjson")
        data = api.ledger_export(path)
        lines = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
        self.assertGreaterEqual(len(lines), len(every))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)


class Sdmx(unittest.TestCase):
    def test_sdmx1_reads_structures_and_a_country_with_the_token(self):
        import sdmx

        sd = ctm_stats.sdmx_client(BASE, os.environ["GOVERNMENT_TOKEN"])
        flows = sd.dataflow()
        self.assertIn("CTM_NAT_COE", flows.dataflow)
        dsd = sd.datastructure("CTM_VICTIMS", params={"references": "children"})
        self.assertIn("CL_SEX", dsd.codelist)

        api = client("government")
        before = api.budget().spent
        # 2019 was released as JSON by the government test: the same release, free.
        msg = sd.data("CTM_NAT_COE", key={"REF_AREA": "USA"}, params={"startPeriod": 2019, "endPeriod": 2019})
        series = sdmx.to_pandas(msg)
        self.assertIsInstance(series, (pd.Series, pd.DataFrame))
        self.assertGreater(len(series), 0)
        self.assertEqual(set(series.index.get_level_values("REF_AREA")), {"USA"})
        self.assertEqual(api.budget().spent, before, "the JSON report's release, read again: free")
        # A new year is charged once, by either route.
        sd.data("CTM_NAT_COE", key={"REF_AREA": "USA"}, params={"startPeriod": 2018, "endPeriod": 2018})
        charged = api.budget().spent - before
        self.assertGreater(charged, 0)
        self.assertEqual(api.national_report("USA", year=2018).charged, 0)
        self.assertEqual(api.budget().spent - before, charged)


if __name__ == "__main__":
    unittest.main(verbosity=2)
