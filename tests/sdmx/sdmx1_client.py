"""The SDMX REST interface read by the `sdmx1` client library, as a
statistics office would, against a running server (run by tests/sdmx_clients.rs).

Environment: BASE_URL, GOVERNMENT_TOKEN (a government of USA), ADMIN_TOKEN.

Checks, each with sdmx1's own client and readers:
1. the dataflows are listed (SDMX-ML structure message);
2. the data structure definition is read with its code lists and concepts;
3. the government's country is read as GenericData (the default), with the
   token in the Authorization header, into a pandas frame; suppressed cells
   carry CONF_STATUS=C and no value, released ones OBS_STATUS=E and a margin;
4. the same query as StructureSpecificData (sdmx1 asks for it when given
   the DSD), SDMX-CSV 2.0 and SDMX-JSON 1.0 gives the same observations;
5. series keys without a token (detail=serieskeysonly) charge nothing;
6. a repeat is free (the budget does not move);
7. a budget refusal arrives as an SDMX-ML error message (403, code 150,
   budget.exhausted, what remains) and charges nothing; sdmx1 raises it as
   requests.HTTPError (it does not read SDMX-ML error bodies itself).
Prints "sdmx1: OK" and one line per step.
"""

import base64
import io
import json
import os
import xml.etree.ElementTree as ET

import pandas as pd
import requests
import sdmx

MES = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message}"
COM = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common}"
BASE = os.environ["BASE_URL"].rstrip("/")
GOV = os.environ["GOVERNMENT_TOKEN"]
ADMIN = os.environ["ADMIN_TOKEN"]
AUTH = {"Authorization": "Bearer " + GOV}


def spent():
    r = requests.get(BASE + "/v1/budget", headers=AUTH, timeout=30)
    r.raise_for_status()
    return r.json()["spent"]


def subject(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["sub"]


sdmx.add_source(
    {"id": "CTM", "url": BASE + "/sdmx", "name": "CTM privacy-preserving statistics"},
    override=True,
)
client = sdmx.Client("CTM")

# 1. Dataflows.
flows = client.dataflow()
ids = sorted(flows.dataflow.keys())
assert "CTM_NAT_COE" in ids and "CTM_NAT_CIT" in ids, ids
print(f"1. dataflows: {', '.join(ids)}")

# 2. The DSD with its code lists and concepts.
msg = client.datastructure("CTM_VICTIMS", params={"references": "children"})
dsd = msg.structure["CTM_VICTIMS"]
dims = [d.id for d in dsd.dimensions.components]
assert dims[0] == "REF_AREA" and dims[-1] == "TIME_PERIOD", dims
assert "CL_SEX" in msg.codelist and "F" in msg.codelist["CL_SEX"], list(msg.codelist)
assert "USA" in msg.codelist["CL_REF_AREA"]
sex = dsd.dimensions.get("SEX").local_representation.enumerated
assert sex is not None and "M" in sex, "SEX is coded by CL_SEX"
assert "CS_CTM_VICTIMS" in msg.concept_scheme
attrs = [a.id for a in dsd.attributes.components]
assert {"CONF_STATUS", "OBS_STATUS", "MARGIN_OF_ERROR"} <= set(attrs), attrs
print(f"2. DSD {dsd.urn}: {len(dims)} dimensions, {len(msg.codelist)} code lists, "
      f"{len(msg.concept_scheme['CS_CTM_VICTIMS'])} concepts")

# 3. The government's country as GenericData, into pandas.
before = spent()
data = client.data("CTM_NAT_COE", key={"REF_AREA": "USA"}, params={"startPeriod": "2015", "endPeriod": "2020"},
                   headers=dict(AUTH))
after = spent()
assert after > before, "the first release is charged"
df = sdmx.to_pandas(data, attributes="o", datetime=False)
frame = df.reset_index() if hasattr(df, "reset_index") else df
assert len(frame) > 20, len(frame)
assert set(frame["REF_AREA"]) == {"USA"}
conf = frame["CONF_STATUS"]
released = frame[conf == "F"]
suppressed = frame[conf == "C"]
assert len(released) > 0
assert (released["OBS_STATUS"] == "E").all()
assert released["MARGIN_OF_ERROR"].astype(int).min() > 0
if len(suppressed):
    assert suppressed["value"].isna().all(), "a suppressed cell has no value"
print(f"3. GenericData: {len(frame)} observations ({len(released)} released, "
      f"{len(suppressed)} suppressed) as a pandas frame; charged {after - before:.6g}")

generic = {
    tuple(k): v
    for k, v in zip(
        frame[dims].itertuples(index=False, name=None), frame["value"]
    )
}


def same(other, what):
    assert len(other) == len(generic), f"{what}: {len(other)} != {len(generic)}"
    for k, v in other.items():
        g = generic[k]
        assert (pd.isna(g) and pd.isna(v)) or float(g) == float(v), f"{what} {k}: {v} != {g}"


# 4. StructureSpecific (sdmx1 asks for it when it has the DSD), SDMX-CSV 2.0, SDMX-JSON 1.0.
ss = client.data("CTM_NAT_COE", key={"REF_AREA": "USA"}, dsd=dsd,
                 params={"startPeriod": "2015", "endPeriod": "2020"}, headers=dict(AUTH))
assert "structurespecific" in ss.response.headers["content-type"]
ssf = sdmx.to_pandas(ss, datetime=False).reset_index()
same({tuple(r[:-1]): r[-1] for r in ssf[dims + ["value"]].itertuples(index=False, name=None)},
     "StructureSpecificData")

r = requests.get(BASE + "/sdmx/data/CTM_NAT_COE/USA", params={"startPeriod": "2015", "endPeriod": "2020"},
                 headers={**AUTH, "Accept": "application/vnd.sdmx.data+csv;version=2.0.0"}, timeout=60)
r.raise_for_status()
dfd = flows.dataflow["CTM_NAT_COE"]
dfd.structure = dsd
csv_msg = sdmx.read_sdmx(io.BytesIO(r.content), format="csv", structure=dfd)
rows = {}
for obs in csv_msg.data[0].obs:
    key = tuple(obs.key.values[d].value for d in dims)
    rows[key] = None if obs.value in ("", None) else float(obs.value)
same(rows, "SDMX-CSV 2.0")

r = requests.get(BASE + "/sdmx/data/CTM_NAT_COE/USA", params={"startPeriod": "2015", "endPeriod": "2020"},
                 headers={**AUTH, "Accept": "application/vnd.sdmx.data+json;version=1.0.0"}, timeout=60)
r.raise_for_status()
js = sdmx.read_sdmx(io.BytesIO(r.content), format="json")
jsf = sdmx.to_pandas(js, datetime=False).reset_index()
same({tuple(r[:-1]): r[-1] for r in jsf[dims + ["value"]].itertuples(index=False, name=None)},
     "SDMX-JSON 1.0")
assert spent() == after, "the other formats are repeats: free"
print("4. StructureSpecificData, SDMX-CSV 2.0 and SDMX-JSON 1.0: the same observations, free")

# 5. Series keys from the structures: no token, no charge.
anonymous = sdmx.Client("CTM")
keys = anonymous.data("CTM_NAT_COE", key="MEX", params={"detail": "serieskeysonly"})
series = list(keys.data[0].series.keys())
assert len(series) > 10 and all(len(obs) == 0 for obs in keys.data[0].series.values())
assert spent() == after
print(f"5. serieskeysonly without a token: {len(series)} series keys, nothing charged")

# 6. A repeat is free.
again = client.data("CTM_NAT_COE", key="USA", params={"startPeriod": "2015", "endPeriod": "2020"},
                    headers=dict(AUTH))
assert spent() == after, "a repeat is free"
assert len(sdmx.to_pandas(again, datetime=False)) == len(frame)
print("6. a repeat: the same observations, nothing charged")

# 7. A budget refusal arrives as an SDMX error message and charges nothing.
r = requests.put(f"{BASE}/v1/admin/consumers/{subject(GOV)}/budget",
                 headers={"Authorization": "Bearer " + ADMIN}, json={"limit": after + 0.01}, timeout=30)
assert r.status_code == 200, r.text
try:
    client.data("CTM_NAT_COE", key="USA", params={"startPeriod": "2019", "endPeriod": "2019"},
                headers=dict(AUTH))
    raise AssertionError("an unaffordable query was answered")
except requests.HTTPError as e:
    res = e.response
    assert res.status_code == 403, res.status_code
    # sdmx1 raises the HTTP error and does not read SDMX-ML error bodies
    # (its reader stops at mes:ErrorMessage), so read the message as XML.
    root = ET.fromstring(res.content)
    assert root.tag == MES + "Error", root.tag
    (em,) = root.findall(MES + "ErrorMessage")
    texts = [t.text for t in em.findall(COM + "Text")]
    assert em.get("code") == "150", em.attrib
    assert texts[0] == "budget.exhausted", texts
    assert any(t.startswith("remaining: ") for t in texts), texts
assert spent() == after, "a refusal charges nothing"
print(f"7. budget refusal: HTTP 403, SDMX-ML error 150: {' / '.join(texts)}; nothing charged")
print(f"sdmx1 {sdmx.__version__}: OK")
