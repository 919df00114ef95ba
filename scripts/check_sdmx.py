"""Reads SDMX-CSV 1.0 and 2.0 files of the CTM_VICTIMS dataflow with the
`sdmx1` SDMX client library and checks them against the published structure.

Usage: check_sdmx.py STRUCTURE_JSON DATA_CSV [DATA_CSV ...]

STRUCTURE_JSON is the answer of GET /v1/national/sdmx; each DATA_CSV an answer
of GET /v1/national/{country}/report?format=sdmx (or a table).

What it does, per file:
1. builds the data structure definition (dimensions with their code lists,
   the OBS_VALUE measure, the attributes) and the dataflow with sdmx1's model;
2. checks the SDMX-CSV 1.0 header: DATAFLOW, the dimensions in structure
   order, OBS_VALUE, the attributes;
3. reads the observations with sdmx1's SDMX-CSV reader. sdmx1 reads SDMX-CSV
   2.x only: a 2.0 file (as served with ?format=sdmx2) is read as it is; a
   1.0 file is lifted first (its `DATAFLOW` column becomes the 2.0
   `STRUCTURE,STRUCTURE_ID,ACTION` columns: `dataflow`, the same id, `I`);
4. checks every key value and attribute value against its code list, that
   keys are unique, and that CONF_STATUS=C goes with an empty OBS_VALUE;
5. for a 1.0 file, writes the observations back with sdmx1's own SDMX-CSV
   1.0 writer and checks that the result equals the input, row for row.

Exit status 0 when every file passes. Also writes the structure as an
SDMX-ML 2.1 structure message next to the first data file
(`ctm_victims-structure.xml`), for loading into other SDMX tools.
"""

import csv
import io
import json
import sys
from pathlib import Path

import pandas as pd
import sdmx
from sdmx.format.csv import v1 as csv_v1
from sdmx.message import StructureMessage
from sdmx.model import common, v21


def build(structure):
    """The DSD, the dataflow and the code lists of the published structure."""
    agency = common.Agency(id=structure["agency"])
    version = structure["version"]
    dsd = v21.DataStructureDefinition(
        id=structure["id"] + "_DSD", maintainer=agency, version=version
    )
    codelists = {}

    def codelist(component):
        cl = common.Codelist(
            id="CL_" + component["id"], maintainer=agency, version=version
        )
        for c in component["codes"]:
            cl.append(common.Code(id=c["code"], name=c["meaning"]))
        codelists[component["id"]] = cl
        return common.Representation(enumerated=cl)

    for order, d in enumerate(structure["dimensions"]):
        if d["id"] == "TIME_PERIOD":
            dsd.dimensions.append(common.TimeDimension(id="TIME_PERIOD", order=order))
        else:
            dsd.dimensions.append(
                common.Dimension(
                    id=d["id"], order=order, local_representation=codelist(d)
                )
            )
    dsd.measures.getdefault(structure["measure"]["id"])
    for a in structure["attributes"]:
        kw = {"related_to": v21.PrimaryMeasureRelationship()}
        if a["codes"]:
            kw["local_representation"] = codelist(a)
        dsd.attributes.getdefault(a["id"], **kw)
    dfd = v21.DataflowDefinition(
        id=structure["id"], maintainer=agency, version=version, structure=dsd
    )
    return dsd, dfd, codelists


def lift_to_v2(text):
    """SDMX-CSV 1.0 -> 2.0: replace the DATAFLOW column; keep the rest."""
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["STRUCTURE", "STRUCTURE_ID", "ACTION"] + rows[0][1:])
    for r in rows[1:]:
        w.writerow(["dataflow", r[0], "I"] + r[1:])
    return out.getvalue().encode()


def check(structure, dsd, dfd, codelists, path):
    text = Path(path).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    dims = [d["id"] for d in structure["dimensions"]]
    attrs = [a["id"] for a in structure["attributes"]]
    v2 = header[:1] == ["STRUCTURE"]
    lead = ["STRUCTURE", "STRUCTURE_ID", "ACTION"] if v2 else ["DATAFLOW"]
    expected = lead + dims + [structure["measure"]["id"]] + attrs
    assert header == expected, f"{path}: header {header} != {expected}"
    if v2:
        assert all(r[:3] == ["dataflow", structure["dataflow"], "I"] for r in body), "2.0 columns"
    else:
        assert all(r[0] == structure["dataflow"] for r in body), "DATAFLOW column"

    data = text.encode() if v2 else lift_to_v2(text)
    msg = sdmx.read_sdmx(io.BytesIO(data), format="csv", structure=dfd)
    assert len(msg.data) == 1, "one data set"
    ds = msg.data[0]
    assert len(ds.obs) == len(body), f"{len(ds.obs)} observations for {len(body)} rows"

    keys = set()
    released = suppressed = 0
    for obs in ds.obs:
        key = tuple(kv.value for kv in obs.key.values.values())
        assert key not in keys, f"repeated series key {key}"
        keys.add(key)
        for dim_id, kv in obs.key.values.items():
            if dim_id in codelists:
                assert kv.value in codelists[dim_id], f"{dim_id}={kv.value} not in its code list"
        attr = {k: v.value for k, v in obs.attached_attribute.items()}
        for a_id, value in attr.items():
            if a_id in codelists and value != "":
                assert value in codelists[a_id], f"{a_id}={value} not in its code list"
        if attr["CONF_STATUS"] == "C":
            assert obs.value in ("", None), f"suppressed {key} has a value"
            suppressed += 1
        else:
            assert attr["CONF_STATUS"] == "F" and int(obs.value) >= 0
            released += 1

    if v2:
        print(
            f"{path}: OK: {len(ds.obs)} observations ({released} released, "
            f"{suppressed} suppressed) read as SDMX-CSV 2.0 by sdmx1 {sdmx.__version__}"
        )
        return
    # sdmx1's own SDMX-CSV 1.0 writer must give back the same rows.
    for obs in ds.obs:
        if obs.value == "":
            obs.value = None
    df = sdmx.to_csv(
        ds,
        format_options=csv_v1.FormatOptions(),
        attributes="o",
        rtype=pd.DataFrame,
        dtype=pd.Int64Dtype(),
    )
    written = list(csv.reader(io.StringIO(df.to_csv(index=False))))
    assert written[0] == header, f"sdmx1 header {written[0]}"
    assert written[1:] == body, "sdmx1 writes different rows"
    print(
        f"{path}: OK: {len(ds.obs)} observations ({released} released, "
        f"{suppressed} suppressed) read by sdmx1 {sdmx.__version__} and written back identically"
    )


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    structure = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    dsd, dfd, codelists = build(structure)
    msg = StructureMessage()
    for cl in codelists.values():
        msg.add(cl)
    msg.add(dsd)
    msg.add(dfd)
    xml_path = Path(argv[2]).parent / "ctm_victims-structure.xml"
    xml_path.write_bytes(sdmx.to_xml(msg, pretty_print=True))
    print(f"structure {structure['dataflow']} written as SDMX-ML to {xml_path}")
    for path in argv[2:]:
        check(structure, dsd, dfd, codelists, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
