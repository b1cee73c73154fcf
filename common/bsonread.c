#include "bsonread.h"

#include <string.h>

static const bsonread_field *find(const bsonread_field *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

static void read_field(const bsonread_field *f, bson_iter_t *it, void *out)
{
    char *member = (char *)out + f->offset;
    switch (f->kind) {
    case BSONREAD_KIND_STR:
        mongo_iter_str(it, member, f->size);
        break;
    case BSONREAD_KIND_INT: {
        int64_t v = mongo_iter_int(it);
        memcpy(member, &v, sizeof v);
        break;
    }
    case BSONREAD_KIND_INT32: {
        int32_t v = (int32_t)mongo_iter_int(it);
        memcpy(member, &v, sizeof v);
        break;
    }
    case BSONREAD_KIND_DOC: {
        bson_iter_t sub;
        if (BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &sub))
            bsonread_iter(&sub, f->doc, f->size, out);
        break;
    }
    case BSONREAD_KIND_FN:
        f->read(it, out);
        break;
    }
}

void bsonread_iter(bson_iter_t *it, const bsonread_field *fields, size_t n, void *out)
{
    while (bson_iter_next(it)) {
        const bsonread_field *f = find(fields, n, bson_iter_key(it));
        if (f)
            read_field(f, it, out);
    }
}

void bsonread_doc(const bson_t *doc, const bsonread_field *fields, size_t n, void *out)
{
    bson_iter_t it;
    if (bson_iter_init(&it, doc))
        bsonread_iter(&it, fields, n, out);
}
