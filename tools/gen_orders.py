#!/usr/bin/env python3
"""gen_orders.py - the seed project's sample data, deterministic.

    gen_orders.py DIR [--orders N] [--customers M] [--seed S]

Writes DIR/orders.csv (order_id,customer_id,amount,order_date) and
DIR/customer_labels.csv (customer_id,churn,label_date).  Customers differ
in how often they buy and how much they spend; churn is likelier for those
whose last order is old and whose spend is low, so models have signal.
Only the standard library: it runs on a bare Debian python3."""
import argparse
import datetime
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--orders", type=int, default=10000)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    start = datetime.date(2025, 1, 1)
    days = 695                                   # up to 2026-11-26
    # Per customer: activity weight, typical spend, how long ago they left.
    weight = [rnd.paretovariate(1.5) for _ in range(a.customers)]
    spend = [rnd.lognormvariate(3.5, 0.6) for _ in range(a.customers)]
    gone = [rnd.random() < 0.35 for _ in range(a.customers)]
    stop = [rnd.randint(60, days) if g else days for g in gone]
    total = sum(weight)
    cum, acc = [], 0.0
    for w in weight:
        acc += w / total
        cum.append(acc)
    last = [None] * a.customers
    spent = [0.0] * a.customers
    import bisect
    date_cache = [(start + datetime.timedelta(days=d)).isoformat() for d in range(days + 1)]
    with open(os.path.join(a.dir, "orders.csv"), "w") as f:
        f.write("order_id,customer_id,amount,order_date\n")
        buf = []
        for oid in range(1, a.orders + 1):
            c = min(bisect.bisect_left(cum, rnd.random()), a.customers - 1)
            day = rnd.randint(0, stop[c])
            amount = round(rnd.lognormvariate(0, 0.5) * spend[c], 2)
            if last[c] is None or day > last[c]:
                last[c] = day
            spent[c] += amount
            buf.append(f"{oid},{c + 1},{amount},{date_cache[day]}\n")
            if len(buf) >= 100000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    with open(os.path.join(a.dir, "customer_labels.csv"), "w") as f:
        f.write("customer_id,churn,label_date\n")
        for c in range(a.customers):
            recency = days - (last[c] if last[c] is not None else 0)
            score = 1.6 * (recency / 180.0) - 0.8 * (spent[c] > 400) + (1.5 if gone[c] else -1.0)
            churn = 1 if score + rnd.gauss(0, 0.7) > 0.8 else 0
            f.write(f"{c + 1},{churn},2026-11-27\n")


if __name__ == "__main__":
    main()
