/* ctl_table: a text table for interlookctl: a header row, then rows of cells,
 * printed with columns as wide as their widest cell and two spaces between
 * them. Cells are cleaned for the terminal (ctl_format_clean). */
#ifndef INTERLOOK_CTL_TABLE_H
#define INTERLOOK_CTL_TABLE_H

#include <stdbool.h>
#include <stdio.h>

typedef struct _ctl_table_t ctl_table_t;

/* A table with these column headers (NULL-terminated). NULL when there is
 * no header. */
ctl_table_t *ctl_table_new(const char *const *headers);

void ctl_table_destroy(ctl_table_t **self_p);

/* Aligns column col (from 0) to the right (numbers). */
void ctl_table_align_right(ctl_table_t *self, size_t col);

/* Adds a row of one cell per column (copied; a NULL cell prints as "-"). */
void ctl_table_add(ctl_table_t *self, const char *const *cells);

/* Rows added so far. */
size_t ctl_table_rows(const ctl_table_t *self);

/* Prints the header and the rows. Returns -1 when writing fails. */
int ctl_table_print(const ctl_table_t *self, FILE *out);

#endif
