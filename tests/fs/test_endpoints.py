"""Serving through the mount: /endpoints/NAME made with mkdir, its traffic
(A/B shares, aliases resolved per request, shadows) and config.yaml, the
holds it puts on the versions it serves, predict as an exchange (same
handle and the shell's echo-then-cat), feature lookup with overrides and
misses, routing shares and sticky keys, log.csv, stats.csv and state
(scale to zero), refused requests with their errno and /log line, 16
clients at once, batch scoring through versions/N/score, and everything
as acknowledged after kill -9.

The data: feat holds f1 = i*37 % 100 and f2 = i % 7 for customers 1-200,
and the label churn is f1 < 50, so a model predicts 1 for a small f1 and
0 for a large one.  Two runs register m@1 and m@2."""
import csv
import errno
import io
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import MLFS, Mount, SANITIZER
from test_models import SPEC, read, setup_data, sh, trained, write

LOG_HEADER = ("timestamp,request_id,endpoint,model,version,role,latency_us,status,"
              "customer_id,f1,f2,prediction,probability")
STATS_HEADER = ("model,version,role,traffic_percent,requests,rows,errors,lookup_misses,"
                "latency_us_p50,latency_us_p99,mean_prediction,cold_starts,cold_latency_us_max")
RESPONSE_HEADER = "customer_id,prediction,probability,model,version"


def f1(key):
    return key * 37 % 100


def serving(m, ep="ep", traffic=None):
    """m@1 and m@2 registered by train.yaml's register:, and endpoint EP."""
    setup_data(m, runs=())
    trained(m, "r1", SPEC + "register: m\n")
    trained(m, "r2", SPEC.replace("seed: 1", "seed: 2") + "register: m\n")
    assert sorted(os.listdir(m.p("models", "m", "versions"))) == ["1", "2"]
    os.mkdir(m.p("endpoints", ep))
    if traffic is not None:
        write(m.p("endpoints", ep, "traffic"), traffic)


def ep(m, *parts):
    return m.p("endpoints", "ep", *parts)


def read_all(fd):
    out = b""
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return out.decode()
        out += b


def exchange(path, req):
    """Write REQ and read the answer on one read-write handle."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, req.encode() if isinstance(req, str) else req)
        return read_all(fd)
    finally:
        os.close(fd)


def predict(m, req):
    return exchange(ep(m, "predict"), req)


def attempt(path, req):
    """The errno a request fails with, from its write, read or close; 0
    when it is answered."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, req.encode())
        read_all(fd)
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return e.errno
    try:
        os.close(fd)
    except OSError as e:
        return e.errno
    return 0


def table(text):
    return list(csv.DictReader(io.StringIO(text)))


def keys_csv(keys):
    return "customer_id\n" + "".join("%d\n" % k for k in keys)


def log_rows(m):
    text = read(ep(m, "log.csv"))
    assert text.splitlines()[0] == LOG_HEADER or not text.splitlines()[1:], text
    return table(text)


def stats(m):
    text = read(ep(m, "stats.csv"))
    assert text.splitlines()[0] == STATS_HEADER
    return {(r["model"], r["version"], r["role"]): r for r in table(text)}


def log_lines(m, path):
    return [l for l in m.log().splitlines() if (" %s: " % path) in l]


def scored(m, version, keys):
    """What versions/N/score (batch scoring, no endpoint) answers."""
    rows = table(exchange(m.p("models", "m", "versions", str(version), "score"), keys_csv(keys)))
    assert [r["customer_id"] for r in rows] == [str(k) for k in keys]
    return rows


# ---- 1. the endpoint directory ----

def test_mkdir_ls_rmdir(mnt):
    serving(mnt)
    assert sorted(os.listdir(ep(mnt))) == \
        ["config.yaml", "log.csv", "predict", "state", "stats.csv", "traffic"]
    assert os.listdir(mnt.p("endpoints")) == ["ep"]
    os.mkdir(mnt.p("endpoints", "other"))
    assert sorted(os.listdir(mnt.p("endpoints"))) == ["ep", "other"]
    with pytest.raises(FileExistsError):
        os.mkdir(ep(mnt))
    # An empty endpoint answers nothing and reads empty.
    assert read(ep(mnt, "traffic")) == "" and read(ep(mnt, "config.yaml")) == ""
    assert read(ep(mnt, "state")) == ""
    assert read(ep(mnt, "stats.csv")) == STATS_HEADER + "\n"
    sh("ls -l ep && rmdir ep", mnt.p("endpoints"))
    assert os.listdir(mnt.p("endpoints")) == ["other"]
    write(mnt.p("endpoints", "other", "traffic"), "m@1 100\n")
    sh("rm -r other", mnt.p("endpoints"))
    assert os.listdir(mnt.p("endpoints")) == []
    assert not os.path.exists(mnt.p("endpoints", "other"))
    # Gone with it: its hold on m@1, and its log and statistics.
    sh("rm -r models/m/versions/1", mnt.path)
    os.mkdir(mnt.p("endpoints", "other"))
    assert read(mnt.p("endpoints", "other", "traffic")) == ""
    assert table(read(mnt.p("endpoints", "other", "log.csv"))) == []
    assert table(read(mnt.p("endpoints", "other", "stats.csv"))) == []
