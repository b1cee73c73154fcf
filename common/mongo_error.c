/* mongo_error: what a failed operation's error, or a bulk write's reply,
 * means to a caller (mongo.h declares these): an outage, a document the
 * database will never take, a duplicate key. Pure: no client, no I/O. */
#include <string.h>

#include "mongo.h"

bool mongo_error_is_unavailable(const bson_error_t *err)
{
    if (err->domain == MONGOC_ERROR_SERVER_SELECTION || err->domain == MONGOC_ERROR_STREAM ||
        (err->domain == MONGO_ERROR_DOMAIN_CLINIC && err->code == MONGO_ERROR_CONTENDED))
        return true;
    if (err->domain == MONGOC_ERROR_CLIENT && err->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
        return false;
    /* FerretDB answers InternalError (1) when its PostgreSQL is down or
     * restarting, with PostgreSQL's or the driver's words in the message. */
    if (err->domain == MONGOC_ERROR_SERVER && err->code == 1) {
        static const char *const pg_down[] = {
            "SQLSTATE 57P0", /* admin shutdown, crash shutdown, cannot connect now */
            "SQLSTATE 08",   /* connection exceptions */
            "failed to connect", "connection refused", "conn closed",
            "unexpected EOF",    "broken pipe",
        };
        for (size_t i = 0; i < sizeof pg_down / sizeof pg_down[0]; i++)
            if (strstr(err->message, pg_down[i]))
                return true;
    }
    /* Server-side "not primary"/shutdown codes mean another node or a restart
     * will take the write: as good as unreachable for the caller. */
    switch (err->code) {
    case 6:
    case 7:
    case 89:
    case 91:
    case 189:
    case 10107:
    case 11600:
    case 11602:
    case 13435:
    case 13436:
        return err->domain == MONGOC_ERROR_SERVER || err->domain == MONGOC_ERROR_WRITE_CONCERN;
    default:
        return false;
    }
}

bool mongo_error_is_permanent(const bson_error_t *err)
{
    if (err->domain == MONGOC_ERROR_BSON || err->domain == MONGOC_ERROR_BSON_INVALID)
        return true;
    if (err->domain == MONGOC_ERROR_CLIENT && err->code == MONGOC_ERROR_CLIENT_TOO_BIG)
        return true;
    if (err->domain != MONGOC_ERROR_SERVER && err->domain != MONGOC_ERROR_COLLECTION &&
        err->domain != MONGOC_ERROR_COMMAND)
        return false;
    switch (err->code) {
    case 2:     /* BadValue */
    case 14:    /* TypeMismatch */
    case 22:    /* InvalidBSON */
    case 52:    /* DollarPrefixedFieldName */
    case 55:    /* InvalidDBRef */
    case 121:   /* DocumentValidationFailure */
    case 10334: /* BSONObjectTooLarge */
    case 17280: /* KeyTooLong */
        return true;
    default:
        return false;
    }
}

bool mongo_error_is_duplicate(const bson_error_t *err)
{
    return err->code == 11000 || err->code == 11001;
}

bool mongo_bulk_only_duplicates(const bson_t *reply)
{
    bson_iter_t it, errs;
    if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &errs) && bson_iter_next(&errs))
        return false;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &errs))
        return false;
    bool any = false;
    while (bson_iter_next(&errs)) {
        bson_iter_t e;
        if (!BSON_ITER_HOLDS_DOCUMENT(&errs) || !bson_iter_recurse(&errs, &e) ||
            !bson_iter_find(&e, "code"))
            return false;
        int64_t code = mongo_iter_int(&e);
        if (code != 11000 && code != 11001)
            return false;
        any = true;
    }
    return any;
}
