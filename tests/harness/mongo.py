"""MongoDB (FerretDB on PostgreSQL locally) as a test client sees it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone


def mongo_client(uri: str, timeout_ms: int = 5000):
    """A pymongo client with short timeouts (FerretDB speaks the MongoDB protocol)."""
    import pymongo
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms,
                               connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms)


def insert_billing(uri: str, physician_id: str, patient_id: str, hours: int = 1) -> str:
    """Writes one billing straight into the database named by uri, shaped as
    financial/billing_store.c writes it (for read-only tests that need one to exist).
    Returns its appointment id."""
    return insert_billings(uri, physician_id, patient_id, [datetime.now(timezone.utc)], hours)[0]


def insert_billings(uri: str, physician_id: str, patient_id: str, ends: list[datetime],
                    hours: int = 1) -> list[str]:
    """insert_billing for one billing per end date in `ends`, in bulk; returns
    their appointment ids."""
    ids, docs, records = [], [], {}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    bucket = now.strftime("%Y-%m-%d")  # a uuid4 id falls in the bucket of its creation day
    for end in ends:
        end = end.replace(microsecond=0)
        bid, day = str(uuid.uuid4()), end.strftime("%Y-%m-%d")
        ids.append(bid)
        for scope, d in (("all", bucket), (f"physician/{physician_id}", bucket), ("end", day)):
            records[f"{scope}/{d}"] = {"_id": f"{scope}/{d}", "scope": scope, "day": d}
        docs.append({
            "_id": bid, "appointment_id": bid, "physician_id": physician_id, "patient_id": patient_id,
            "start_date": end - timedelta(hours=hours), "end_date": end, "end_day": day,
            "bucket": bucket, "billed_hours": hours, "hourly_price_cents": 20000,
            "total_cents": 20000 * hours, "currency": "BRL", "created_at": now})
    with mongo_client(uri) as c:
        db = c.get_default_database()
        # The bucket records first, as the store notes them (common/buckets.c).
        for rec in records.values():
            db.billing_buckets.update_one({"_id": rec["_id"]},
                                          {"$setOnInsert": {"scope": rec["scope"], "day": rec["day"]}},
                                          upsert=True)
        for i in range(0, len(docs), 32):
            db.billings.insert_many(docs[i:i + 32])
    return ids
