#include "refusals.h"

void refusals_init(refusals *r, int max)
{
    r->max = max < 1 ? 1 : max;
    r->partition = -1;
    r->offset = -1;
    r->count = 0;
}

bool refusals_note(refusals *r, int32_t partition, int64_t offset, bool permanent)
{
    if (r->count == 0 || r->partition != partition || r->offset != offset) {
        r->partition = partition;
        r->offset = offset;
        r->count = 0;
    }
    r->count++;
    return permanent || r->count >= r->max;
}

void refusals_done(refusals *r, int32_t partition, int64_t offset)
{
    if (r->partition == partition && r->offset == offset)
        r->count = 0;
}
