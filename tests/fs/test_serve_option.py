"""mount -o serve (docs/reference.md, "Serving hosts"): the option a
serving host of the remote backend mounts with.  On its own store a
serving host behaves as any mount: what it writes it reads, its alias
moves reroute its predict at once, and its opens never ask etcd
(/.stats' store_refresh stays 0; on the embedded store there is no etcd
to ask).  The remote behaviour is tests/scaleout/test_serve.py's."""
import os
import subprocess

import pytest

from conftest import mounted
from test_endpoints import RESPONSE_HEADER, predict, serving, table
from test_models import read, write


@pytest.fixture
def serve():
    with mounted(("allow_other", "stats", "serve")) as m:
        yield m


def refreshes(m):
    lines = dict(line.split() for line in read(m.p(".stats")).splitlines())
    return int(lines["store_refresh"])


def test_serving_mount_reads_what_it_writes(serve):
    os.mkdir(serve.p("tables", "t"))
    write(serve.p("tables", "t", "data.csv"), "id,v\n1,x\n")
    for _ in range(5):
        assert read(serve.p("tables", "t", "data.csv")) == "id,v\n1,x\n"
    assert refreshes(serve) == 0


def test_serving_mount_follows_its_own_alias_moves(serve):
    serving(serve)
    prod = serve.p("models", "m", "Production")
    subprocess.run(["ln", "-sfn", "versions/1", prod], check=True)
    write(serve.p("endpoints", "ep", "traffic"), "m@Production 100\n")
    for target, want in (("versions/1", "1"), ("versions/2", "2"), ("versions/1", "1")):
        subprocess.run(["ln", "-sfn", target, prod], check=True)
        assert os.readlink(prod) == target
        out = predict(serve, "customer_id\n5\n")
        assert out.splitlines()[0] == RESPONSE_HEADER
        assert [(r["model"], r["version"]) for r in table(out)] == [("m", want)]
    assert refreshes(serve) == 0
