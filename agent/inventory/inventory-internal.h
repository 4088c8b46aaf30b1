/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by inventory.c, inventory-format.c and content-cache.c:
 * symlink-proof directory walking under a root, hashing, hex.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "agent/inventory/inventory.h"
#include "common/macro.h"

#define INV_READ_CHUNK (64 * 1024)

/* Opens root (NULL or "" = "/") as a directory descriptor. */
int inv_open_root(const char *root);

/* The directory that holds a file, opened one component at a time from
 * the root with O_NOFOLLOW | O_DIRECTORY, and kept open while the next
 * path shares it (paths come sorted, so a directory is opened once per
 * run of its files). */
struct inv_dir {
	int root_fd; /* not owned */
	int fd;      /* -1: none open */
	char *dir;   /* the directory of fd, without leading '/' ("" = root) */
	int error;   /* why dir could not be opened */
};

void inv_dir_init(struct inv_dir *d, int root_fd);
void inv_dir_done(struct inv_dir *d);
/* Returns the descriptor (owned by d) of path's directory and points
 * *ret_name at path's last component; -errno (ELOOP/ENOTDIR for a
 * symlink on the way) otherwise. */
int inv_dir_open(struct inv_dir *d, const char *path, const char **ret_name);
/* Opens the directory path (absolute, without root) from root_fd with
 * O_NOFOLLOW at every step; with create, missing ones are made (mode). */
int inv_openat_dir(int root_fd, const char *path, bool create, mode_t mode);

/* SHA-256 (common/sha256.c) of fd read up to its end or limit bytes
 * (UINT64_MAX: no limit) through buf; *ret_bytes counts what was read. */
int inv_hash_fd(int fd, uint8_t *buf, size_t buf_size, uint64_t limit,
                uint8_t ret_sha256[INVENTORY_SHA256_SIZE], uint64_t *ret_bytes);
int inv_hash_data(const void *data, size_t size, uint8_t ret_sha256[INVENTORY_SHA256_SIZE]);

/* 64 lowercase hex digits + NUL; parse: 0 or -EINVAL. */
void inv_hex(const uint8_t sha256[INVENTORY_SHA256_SIZE], char ret[2 * INVENTORY_SHA256_SIZE + 1]);
int inv_unhex(const char *s, size_t len, uint8_t ret[INVENTORY_SHA256_SIZE]);

/* Fills f's stat fields from st (path, hash, content untouched). */
void inv_file_set_stat(struct inventory_file *f, const struct stat *st);
void inv_file_done(struct inventory_file *f);
void inv_component_done(struct inventory_component *c);

/* The same record of a file as far as a change is concerned: type, content,
 * permission bits, owner (INVENTORY_CHANGED_* bits of what differs). */
unsigned inv_file_compare(const struct inventory_file *a, const struct inventory_file *b);
