"""The client without the service: retries, typed errors, frames, labels.

A scripted HTTP server on 127.0.0.1 answers what each test tells it to;
sleeping is recorded, never done, so nothing here depends on time.
"""

import http.server
import json
import random
import socket
import threading
import unittest

from ctm_stats import (BudgetExhausted, Client, CtmError, Forbidden, GlobalBudgetExhausted, InvalidQuery,
                       RateLimited, Release, Retry, ServiceUnavailable, Unauthorized)
from ctm_stats.client import _labels_of
from ctm_stats.errors import from_problem

BUDGET = {"unit": "epsilon", "spent": 0.5, "limit": 10.0, "remaining": 9.5}
ANSWER = {
    "dataset": "ctm", "query_id": "q1", "release_id": "r1", "data_version": 3, "dimensions": ["gender"],
    "cells": [
        {"key": {"gender": "female"}, "count": 120, "margin_of_error": 8, "suppressed": False},
        {"key": {"gender": "male"}, "count": 4, "margin_of_error": 8, "suppressed": False},
        {"key": {"gender": "other"}, "count": None, "margin_of_error": 8, "suppressed": True},
    ],
    "cost": 0.5, "unit_of_privacy": "person", "charged": 0.5, "repeat": False,
    "mechanism": {"name": "discrete_laplace", "scale": 2.0, "sensitivity": 1}, "confidence": 0.95, "k": 10,
    "clamp_negative": True, "round_to": 1, "budget": BUDGET, "ledger_seq": 7, "notes": [],
}


def problem(status, code, **extra):
    return {"type": f"urn:ctm-stats:problem:{code}", "title": code, "status": status, "detail": code, "code": code,
            **extra}


class Script:
    """Answers requests in order from a list of (status, headers, body)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []
        script = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.answer(None)

            def do_POST(self):
                self.answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

            def answer(self, body):
                script.seen.append((self.command, self.path, dict(self.headers), body))
                status, headers, doc = script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
                data = json.dumps(doc).encode()
                self.send_response(status)
                ctype = "application/json" if status < 400 else "application/problem+json"
                self.send_header("Content-Type", ctype)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Retries(unittest.TestCase):
    def client(self, url, attempts=4):
        self.slept = []
        return Client(url, "t", retry=Retry(attempts=attempts, base=0.5, cap=4), labels=False,
                      sleep=self.slept.append, rng=random.Random(1))

    def test_429_waits_its_retry_after_and_keeps_the_key(self):
        s = Script([(429, {"Retry-After": "7"}, problem(429, "rate.limited", retry_after=7)), (200, {}, ANSWER)])
        self.addCleanup(s.close)
        res = self.client(s.url).counts(["gender"], epsilon=0.5)
        self.assertEqual(res.charged, 0.5)
        self.assertEqual(len(s.seen), 2)
        keys = [h["Idempotency-Key"] for _, _, h, _ in s.seen]
        self.assertEqual(keys[0], keys[1])
        self.assertTrue(keys[0].startswith("ctm-py-"))
        self.assertEqual(res.idempotency_key, keys[0])
        self.assertGreaterEqual(self.slept[0], 7.0, "Retry-After is honoured")
        self.assertEqual(s.seen[0][3], {"dimensions": ["gender"], "epsilon": 0.5})
        self.assertEqual(s.seen[0][2]["Authorization"], "Bearer t")

    def test_rate_limited_raised_when_retries_run_out(self):
        s = Script([(429, {"Retry-After": "3"}, problem(429, "rate.limited", retry_after=3))])
        self.addCleanup(s.close)
        with self.assertRaises(RateLimited) as e:
            self.client(s.url, attempts=3).counts(["gender"])
        self.assertEqual((e.exception.status, e.exception.retry_after), (429, 3.0))
        self.assertEqual(len(s.seen), 3)
        self.assertEqual(len(self.slept), 2)

    def test_503_backs_off_exponentially_with_jitter(self):
        s = Script([(503, {}, problem(503, "service.unavailable"))])
        self.addCleanup(s.close)
        with self.assertRaises(ServiceUnavailable):
            self.client(s.url, attempts=5).national_report("USA")
        self.assertEqual(len(self.slept), 4)
        for n, wait in enumerate(self.slept, start=1):
            self.assertLessEqual(wait, min(4, 0.5 * 2 ** (n - 1)))
            self.assertGreaterEqual(wait, 0)

    def test_a_dropped_connection_is_retried(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        with self.assertRaises(ServiceUnavailable) as e:
            self.client(f"http://127.0.0.1:{port}", attempts=3).budget()
        self.assertIsNone(e.exception.status)
        self.assertEqual(len(self.slept), 2)

    def test_a_refusal_is_not_retried(self):
        s = Script([(403, {}, problem(403, "budget.exhausted", remaining=0.25, requested=0.5, unit="epsilon"))])
        self.addCleanup(s.close)
        with self.assertRaises(BudgetExhausted) as e:
            self.client(s.url).counts(["gender"], epsilon=0.5)
        self.assertEqual((e.exception.remaining, e.exception.requested, e.exception.unit), (0.25, 0.5, "epsilon"))
        self.assertEqual(len(s.seen), 1)
        self.assertEqual(self.slept, [])

    def test_query_parameters_are_checked_against_the_table(self):
        with self.assertRaises(ValueError):
            Client("http://127.0.0.1:9", "t").national_tables("USA", year=2019)


class Errors(unittest.TestCase):
    def test_codes_map_to_classes(self):
        cases = {
            (401, "auth.invalid_token"): Unauthorized,
            (403, "auth.country_scope"): Forbidden,
            (403, "budget.global_exhausted"): GlobalBudgetExhausted,
            (422, "query.unknown_value"): InvalidQuery,
            (503, "service.entropy_unavailable"): ServiceUnavailable,
            (418, "teapot.unknown"): CtmError,
        }
        for (status, code), cls in cases.items():
            err = from_problem(status, problem(status, code))
            self.assertIs(type(err), cls, code)
            self.assertEqual((err.status, err.code, err.detail), (status, code, code))
        self.assertIsInstance(from_problem(403, problem(403, "budget.global_exhausted")), BudgetExhausted)

    def test_invalid_query_says_the_field(self):
        self.assertEqual(from_problem(422, problem(422, "query.unknown_value")).field, "filters")
        rho = from_problem(422, {**problem(422, "query.epsilon_out_of_range"), "detail": "rho 9 is not allowed"})
        self.assertEqual(rho.field, "rho")
        self.assertEqual(from_problem(422, problem(422, "query.invalid", field="filters.gender")).field,
                         "filters.gender")


class Frames(unittest.TestCase):
    def test_cells_with_margins_flags_and_labels(self):
        rel = Release.of(ANSWER, labels={"gender": {"female": "Female", "male": "Male"}})
        df = rel.frame()
        self.assertEqual(list(df.columns), ["gender", "gender_label", "count", "margin_of_error", "suppressed",
                                            "low", "high"])
        self.assertEqual(df["gender_label"].tolist()[:2], ["Female", "Male"])
        self.assertTrue(df["count"].isna().tolist()[2])
        self.assertEqual(df["low"].tolist()[:2], [112, 0], "low is clipped at 0")
        self.assertEqual(df["high"].tolist()[:2], [128, 12])
        self.assertEqual(df.attrs["query_ids"], {"gender": "q1"})
        self.assertEqual(rel.ledger_seq, 7)

    def test_label_shapes(self):
        d = {"name": "gender", "values": ["female", "male"]}
        self.assertEqual(_labels_of({**d, "labels": ["F", "M"]}), {"female": "F", "male": "M"})
        self.assertEqual(_labels_of({**d, "labels": {"female": {"en": "Female", "fr": "Femme"}}}),
                         {"female": "Female"})
        self.assertEqual(_labels_of({**d, "labels": [{"value": "male", "label": "Male"}]}), {"male": "Male"})
        self.assertEqual(_labels_of(d), {})
        catalog = {**d, "labels": {"en": {"name": "Gender", "values": {"female": "Female"}},
                                   "fr": {"name": "Sexe", "values": {"female": "Femme"}}}}
        self.assertEqual(_labels_of(catalog), {"female": "Female"})
        self.assertEqual(_labels_of(catalog, "fr"), {"female": "Femme"})
        self.assertEqual(_labels_of(catalog, "es"), {"female": "Female"}, "English where a language is missing")


if __name__ == "__main__":
    unittest.main(verbosity=2)
