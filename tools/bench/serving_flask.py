#!/usr/bin/python3
"""serving_flask.py MODEL FEATURES PORT - the MLflow-style scoring server
peer of tools/bench/serving: a Flask app wrapping the scikit-learn model
that serving_sklearn.py pickled, run as `mlflow models serve` runs its
scoring server: under gunicorn, one worker (Debian's python3-flask and
gunicorn).  The worker is gthread (8 threads), not MLflow's default sync,
because a sync worker closes the connection after every response and the
bench measures keep-alive; Werkzeug's own server closes it too.
POST /invocations takes MLflow's {"dataframe_records": [...]} (or
dataframe_split), makes a DataFrame of it as MLflow's scoring server
does, looks the rows' customer_id up in the 1,000,000-key feature table
(FEATURES, held in memory as a DataFrame, as a feature-store wrapper
model would) and answers {"predictions": [...], "probabilities": [...]}.
No access log (gunicorn's default)."""
import os
import pickle
import sys

if __name__ == "__main__":
    model_path, features, port = sys.argv[1:4]
    os.environ.update(BENCH_MODEL=os.path.abspath(model_path),
                      BENCH_FEATURES=os.path.abspath(features))
    os.execvp("gunicorn", ["gunicorn", "-w", "1", "-k", "gthread", "--threads", "8",
                           "-b", "127.0.0.1:" + port, "--log-level", "warning",
                           "--chdir", os.path.dirname(os.path.abspath(__file__)),
                           "serving_flask:app"])

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request

with open(os.environ["BENCH_MODEL"], "rb") as f:
    model = pickle.load(f)
table = pd.read_csv(os.environ["BENCH_FEATURES"], index_col=0)
values = table.to_numpy()
app = Flask(__name__)


@app.post("/invocations")
def invocations():
    body = request.get_json()
    if "dataframe_records" in body:
        df = pd.DataFrame.from_records(body["dataframe_records"])
    else:
        split = body["dataframe_split"]
        df = pd.DataFrame(split["data"], columns=split["columns"])
    rows = table.index.get_indexer(df["customer_id"])
    if (rows < 0).any():
        return jsonify({"error_code": "BAD_REQUEST", "message": "unknown customer_id"}), 400
    proba = model.predict_proba(values[rows])[:, 1]
    return jsonify({"predictions": (proba >= 0.5).astype(np.int64).tolist(),
                    "probabilities": proba.tolist()})
