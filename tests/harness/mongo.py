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
    bid = str(uuid.uuid4())
    now = datetime.now(timezone.utc).replace(microsecond=0)
    day = now.strftime("%Y-%m-%d")
    with mongo_client(uri) as c:
        db = c.get_default_database()
        # The bucket records first, as the store notes them (common/buckets.c):
        # a uuid4 id falls in the bucket of its creation day.
        for scope, d in (("all", day), (f"physician/{physician_id}", day), ("end", day)):
            db.billing_buckets.update_one({"_id": f"{scope}/{d}"},
                                          {"$setOnInsert": {"scope": scope, "day": d}}, upsert=True)
        db.billings.insert_one({
            "_id": bid, "appointment_id": bid, "physician_id": physician_id, "patient_id": patient_id,
            "start_date": now - timedelta(hours=hours), "end_date": now, "end_day": day,
            "bucket": day, "billed_hours": hours, "hourly_price_cents": 20000,
            "total_cents": 20000 * hours, "currency": "BRL", "created_at": now})
    return bid
