/* ctl_table: aligned text tables, see ctl_table.h. */
#include "core/ctl/ctl_table.h"
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
static int s_add(ctl_table_t *self, const char *const *cells)
{
    if (self->rows >= self->cap) {
        size_t cap = self->cap * 2;
        char **grown = realloc(self->cells, cap * self->ncols * sizeof *grown);
        if (!grown) return -1;
        self->cells = grown;
        self->cap = cap;
    }
    char **row = self->cells + self->rows * self->ncols;
    for (size_t c = 0; c < self->ncols; c++) {
        row[c] = ctl_format_clean(cells[c], 0);
        if (!row[c]) {
            while (c--)
                free(row[c]);
            return -1;
        }
        size_t w = ctl_format_width(row[c]);
        if (w > self->width[c]) self->width[c] = w;
    }
    return 0;
}

ctl_table_t *ctl_table_new(const char *const *headers)
{
    ctl_table_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    while (headers[self->ncols])
        self->ncols++;
    self->cap = 8;
    self->cells = calloc(self->cap * self->ncols, sizeof *self->cells);
    self->width = calloc(self->ncols, sizeof *self->width);
    self->right = calloc(self->ncols, sizeof *self->right);
    if (!self->ncols || !self->cells || !self->width || !self->right || s_add(self, headers)) {
        ctl_table_destroy(&self);
        return NULL;
    }
    return self;
}

void ctl_table_destroy(ctl_table_t **self_p)
{
    ctl_table_t *self = *self_p;
    if (!self) return;
    if (self->cells)
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

int ctl_table_add(ctl_table_t *self, const char *const *cells)
{
    self->rows++; /* the header is row 0 */
    if (s_add(self, cells) != 0) {
        self->rows--;
        return -1;
    }
    return 0;
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
