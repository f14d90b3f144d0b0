/* ctl_table: aligned text tables, see ctl_table.h. */
#include "core/ctl/ctl_table.h"
#include "common/alloc.h"
#include "core/ctl/ctl_format.h"

#include <stdlib.h>
#include <string.h>

struct _ctl_table_t {
    size_t ncols;  /* columns */
    char **cells;  /* (rows + 1) x ncols cleaned strings, the header first */
    size_t rows;   /* rows added, without the header */
    size_t cap;    /* rows allocated in cells, with the header */
    size_t *width; /* characters of the widest cell of each column */
    bool *right;   /* columns aligned right */
};

/* Writes row number self->rows (0: the header). */
static void s_add(ctl_table_t *self, const char *const *cells)
{
    if (self->rows >= self->cap) {
        self->cap *= 2;
        self->cells = il_realloc(self->cells, self->cap * self->ncols * sizeof *self->cells);
    }
    char **row = self->cells + self->rows * self->ncols;
    for (size_t c = 0; c < self->ncols; c++) {
        row[c] = ctl_format_clean(cells[c], 0);
        size_t w = ctl_format_width(row[c]);
        if (w > self->width[c]) self->width[c] = w;
    }
}

ctl_table_t *ctl_table_new(const char *const *headers)
{
    size_t ncols = 0;
    while (headers[ncols])
        ncols++;
    if (ncols == 0) return NULL;
    ctl_table_t *self = il_calloc(1, sizeof *self);
    self->ncols = ncols;
    self->cap = 8;
    self->cells = il_calloc(self->cap * self->ncols, sizeof *self->cells);
    self->width = il_calloc(self->ncols, sizeof *self->width);
    self->right = il_calloc(self->ncols, sizeof *self->right);
    s_add(self, headers);
    return self;
}

void ctl_table_destroy(ctl_table_t **self_p)
{
    ctl_table_t *self = *self_p;
    if (!self) return;
    for (size_t i = 0; i < (self->rows + 1) * self->ncols; i++)
        free(self->cells[i]);
    free(self->cells);
    free(self->width);
    free(self->right);
    free(self);
    *self_p = NULL;
}

void ctl_table_align_right(ctl_table_t *self, size_t col)
{
    if (col < self->ncols) self->right[col] = true;
}

void ctl_table_add(ctl_table_t *self, const char *const *cells)
{
    self->rows++; /* the header is row 0 */
    s_add(self, cells);
}

size_t ctl_table_rows(const ctl_table_t *self)
{
    return self->rows;
}

int ctl_table_print(const ctl_table_t *self, FILE *out)
{
    for (size_t r = 0; r <= self->rows; r++) {
        char **row = self->cells + r * self->ncols;
        for (size_t c = 0; c < self->ncols; c++) {
            size_t pad = self->width[c] - ctl_format_width(row[c]);
            bool last = c + 1 == self->ncols;
            if (self->right[c]) fprintf(out, "%*s", (int)pad, "");
            fputs(row[c], out);
            if (!last && !self->right[c]) fprintf(out, "%*s", (int)pad, "");
            fputs(last ? "\n" : "  ", out);
        }
    }
    return ferror(out) ? -1 : 0;
}
